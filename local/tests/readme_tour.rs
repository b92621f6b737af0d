//! The README's tour ("Your first five minutes") is true: its shell
//! commands, taken from the README's fenced code blocks of that section in
//! order, run in one bash session (so the variables they set carry over)
//! against the `aftersales-local` binary, started on a free loopback port
//! with an empty data folder, and each block shows what the text around it
//! says: statuses, timeline steps, inbox messages (refund_sent and
//! refund_arrived among them), the refundable amounts, the SMS lines.
//!
//! Only two things are changed in the commands: `cargo run -q -p
//! aftersales-local --` becomes the binary built for this test, and
//! `http://127.0.0.1:8080` the runner's address. The shell's working
//! folder holds the runner's `data` folder, as the README's `./data`.
//!
//! Where the text says the rules or the sandbox act "within a moment", the
//! block only reads: it runs again until it shows what is promised, for at
//! most [`PATIENCE`]. A block that changes something runs once. A command
//! that fails stops the session (`set -eo pipefail`), and the test says
//! which block and what it printed.
//!
//! When the README's tour changes, [`expectations`] must change with it:
//! one entry per block, in order. Needs bash, curl and jq (`.ci/run`
//! installs curl and jq when they are missing); without them the test
//! fails and says so.

mod common;

use common::{command, free_port, Proc};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

const README: &str = include_str!("../../README.md");
const SECTION: &str = "### Your first five minutes";
/// How long a read-only block may take to show what the text promises
/// (the rules, the sandbox provider's notification a second later, the
/// notifications; generous for debug builds on a busy machine).
const PATIENCE: Duration = Duration::from_secs(45);
/// How long one run of one block may take.
const BLOCK_TIMEOUT: Duration = Duration::from_secs(60);

/// The fenced code blocks of the tour's section, in order.
fn tour_blocks(readme: &str) -> Vec<String> {
    let mut lines = readme.lines();
    assert!(
        lines.by_ref().any(|l| l.trim_end() == SECTION),
        "README.md has no {SECTION:?} section"
    );
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in lines {
        let fence = line.trim_start().starts_with("```");
        match (&mut current, fence) {
            (None, true) => current = Some(String::new()),
            (Some(_), true) => blocks.push(current.take().unwrap_or_default()),
            (Some(b), false) => {
                b.push_str(line);
                b.push('\n');
            }
            // The next heading outside a code block ends the section.
            (None, false) if line.starts_with('#') => break,
            (None, false) => {}
        }
    }
    assert!(current.is_none(), "a code block of the tour is not closed");
    blocks
}

/// What one block must show. `marker` is text the block contains, so that
/// a README that moved its blocks fails on the right one.
struct Expect {
    marker: &'static str,
    check: fn(&str) -> Result<(), String>,
}

/// A claim's submission: sent again with its Idempotency-Key, it must
/// print the same claim.
fn claim(marker: &'static str) -> Expect {
    Expect {
        marker,
        check: one_claim_id,
    }
}

/// The JSON values a block printed, and the text after them.
fn json_then_text(out: &str) -> (Vec<Value>, &str) {
    let mut values = Vec::new();
    let mut stream = serde_json::Deserializer::from_str(out).into_iter::<Value>();
    let mut end = 0;
    while let Some(Ok(v)) = stream.next() {
        values.push(v);
        end = stream.byte_offset();
    }
    (values, &out[end..])
}

fn json_values(out: &str) -> Result<Vec<Value>, String> {
    let (values, rest) = json_then_text(out);
    if rest.trim().is_empty() {
        Ok(values)
    } else {
        Err(format!("not JSON after {} values: {rest:?}", values.len()))
    }
}

fn same(what: &str, got: &Value, want: &Value) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}: got {got}, the README says {want}"))
    }
}

fn money(amount: &str) -> Value {
    json!({"amount": amount, "currency": "CNY"})
}

fn one_claim_id(out: &str) -> Result<(), String> {
    let id = out.trim();
    if id.starts_with("clm_") && !id.contains(char::is_whitespace) {
        Ok(())
    } else {
        Err(format!("expected a claim id, got {out:?}"))
    }
}

fn events_of(messages: &Value) -> Vec<&str> {
    messages
        .as_array()
        .map(|a| a.iter().filter_map(|m| m["event"].as_str()).collect())
        .unwrap_or_default()
}

fn body_of<'a>(messages: &'a Value, event: &str) -> &'a str {
    messages
        .as_array()
        .and_then(|a| a.iter().find(|m| m["event"] == event))
        .and_then(|m| m["body"].as_str())
        .unwrap_or("")
}

fn contains_all(what: &str, text: &str, parts: &[&str]) -> Result<(), String> {
    match parts.iter().find(|p| !text.contains(*p)) {
        None => Ok(()),
        Some(p) => Err(format!("{what} does not say {p:?}: {text:?}")),
    }
}

/// One entry per code block of the tour, in order: what the text promises.
fn expectations() -> Vec<Expect> {
    vec![
        Expect {
            marker: "token customer alice",
            check: |out| match out.trim() {
                "" => Ok(()),
                o => Err(format!("minting tokens printed {o:?}")),
            },
        },
        Expect {
            marker: "orders/o-1001",
            check: |out| same("o-1001 refundable", &json_values(out)?[0], &money("206.00")),
        },
        claim("alice-o-1001-1"),
        Expect {
            marker: "claims/$CLAIM1",
            check: |out| {
                let v = json_values(out)?;
                same(
                    "the first claim",
                    &v[0],
                    &json!({"status": "completed", "timeline": [
                        "submitted", "approved", "refund_started", "refund_sent",
                        "refund_arrived", "refund_succeeded"]}),
                )?;
                same("o-1001 refundable after it", &v[1], &money("103.00"))
            },
        },
        Expect {
            marker: "data/sms.jsonl",
            check: |out| {
                let v = json_values(out)?;
                same("unread", &v[0], &json!(6))?;
                same(
                    "inbox steps, newest first",
                    &json!(events_of(&v[1])),
                    &json!([
                        "refund_succeeded",
                        "refund_arrived",
                        "refund_sent",
                        "refund_started",
                        "approved",
                        "submitted"
                    ]),
                )?;
                // zh-CN, the order's language: the channel, the amount, the
                // expected arrival; the channel and the account.
                contains_all(
                    "refund_sent",
                    body_of(&v[1], "refund_sent"),
                    &["¥103.00", "微信支付", "预计", "前到账"],
                )?;
                contains_all(
                    "refund_arrived",
                    body_of(&v[1], "refund_arrived"),
                    &["¥103.00", "已到账", "微信支付", "收款账户"],
                )?;
                let texts: Vec<&str> = v[2..].iter().filter_map(|l| l["text"].as_str()).collect();
                let want = [
                    "【售后服务】售后申请已提交：",
                    "【售后服务】售后申请已通过：",
                    "【售后服务】退款已到账：",
                ];
                if texts.len() == want.len()
                    && texts.iter().zip(want).all(|(t, w)| t.starts_with(w))
                    && v[2..].iter().all(|l| l["phone"] == "+8613800138000")
                {
                    Ok(())
                } else {
                    Err(format!("sms.jsonl: {texts:?}, the README says {want:?}"))
                }
            },
        },
        Expect {
            marker: "/read",
            check: |out| same("unread after reading one", &json_values(out)?[0], &json!(5)),
        },
        Expect {
            marker: "orders/o-1002",
            check: |out| same("o-1002 refundable", &json_values(out)?[0], &money("328.00")),
        },
        claim("alice-o-1002-1"),
        Expect {
            marker: "claims/$CLAIM2 ",
            check: |out| {
                same(
                    "the second claim",
                    &json_values(out)?[0],
                    &json!({"status": "awaiting_evidence", "last": "evidence_requested"}),
                )
            },
        },
        Expect {
            marker: "evidence-uploads",
            check: |out| same("the upload", &json_values(out)?[0], &json!(true)),
        },
        Expect {
            marker: "desk/claims?status=under_review",
            check: |out| {
                let v = json_values(out)?;
                let queue = v[0].as_array().ok_or("no queue")?;
                let [c] = queue.as_slice() else {
                    return Err(format!("one claim waiting, got {}", v[0]));
                };
                same(
                    "the claim on the desk",
                    &json!([&c["status"], &c["requested_amount"], &c["evidence_count"]]),
                    &json!(["under_review", money("259.00"), 1]),
                )
            },
        },
        Expect {
            marker: "/decision",
            check: |out| {
                same(
                    "the decision",
                    &json_values(out)?[0],
                    &json!({"status": "refunding", "approved_amount": money("80.00")}),
                )
            },
        },
        Expect {
            marker: "select(.claim_id == $c)",
            check: |out| {
                let (v, text) = json_then_text(out);
                same(
                    "the second claim",
                    v.first().unwrap_or(&Value::Null),
                    &json!({"status": "completed", "timeline": [
                        "submitted", "evidence_requested", "evidence_added", "review_started",
                        "approved", "refund_started", "refund_sent", "refund_arrived",
                        "refund_succeeded"]}),
                )?;
                let lines: Vec<(&str, &str)> = text
                    .lines()
                    .filter(|l| !l.trim().is_empty())
                    .map(|l| l.split_once(": ").unwrap_or((l, "")))
                    .collect();
                let events: Vec<&str> = lines.iter().map(|(e, _)| *e).collect();
                same(
                    "its messages, newest first",
                    &json!(events),
                    &json!([
                        "refund_succeeded",
                        "refund_arrived",
                        "refund_sent",
                        "refund_started",
                        "approved",
                        "review_started",
                        "evidence_added",
                        "evidence_requested",
                        "submitted"
                    ]),
                )?;
                let body = |e: &str| lines.iter().find(|(n, _)| *n == e).map_or("", |l| l.1);
                contains_all(
                    "approved (English)",
                    body("approved"),
                    &[
                        "You asked for CNY 259.00; the shop approved CNY 80.00.",
                        "Reason: Partial refund for the cracked lid; keep the kettle.",
                    ],
                )?;
                contains_all(
                    "refund_sent (English)",
                    body("refund_sent"),
                    &["CNY 80.00", "was sent to Alipay; expect it by "],
                )?;
                contains_all(
                    "refund_arrived (English)",
                    body("refund_arrived"),
                    &["CNY 80.00", "has arrived in Alipay"],
                )
            },
        },
        claim("alice-o-1002-2"),
        Expect {
            marker: "claims/$CLAIM3 ",
            check: |out| {
                same(
                    "the third claim",
                    &json_values(out)?[0],
                    &json!("under_review"),
                )
            },
        },
        Expect {
            marker: "/cancel",
            check: |out| {
                let v = json_values(out)?;
                same("the cancelled claim", &v[0], &json!("cancelled"))?;
                same("o-1002 refundable after it", &v[1], &money("248.00"))?;
                same(
                    "her claims, newest first",
                    &v[2],
                    &json!([
                        {"order_id": "o-1002", "type": "return_refund", "status": "cancelled"},
                        {"order_id": "o-1002", "type": "refund_only", "status": "completed"},
                        {"order_id": "o-1001", "type": "refund_only", "status": "completed"}
                    ]),
                )
            },
        },
    ]
}

// ------------------------------------------------------------------ runner

/// One bash session: blocks are written to files in the session's folder
/// and sourced, so variables carry over; each run's output goes to a file.
struct Shell {
    child: Child,
    stdin: ChildStdin,
    done: Receiver<String>,
    dir: PathBuf,
    runs: usize,
}

impl Shell {
    fn start(dir: &Path) -> Shell {
        let mut child = command("bash", dir)
            .args(["--noprofile", "--norc"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("bash starts");
        let mut stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, done) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        writeln!(stdin, "set -eo pipefail").expect("bash takes commands");
        Shell {
            child,
            stdin,
            done,
            dir: dir.to_path_buf(),
            runs: 0,
        }
    }

    /// Runs one block; its output, or why it failed.
    fn run(&mut self, block: &str) -> Result<String, String> {
        self.runs += 1;
        let n = self.runs;
        let script = format!("tour-{n}.sh");
        let out = self.dir.join(format!("tour-{n}.out"));
        std::fs::write(self.dir.join(&script), block).expect("block file");
        let done = format!("__tour_done__ {n}");
        writeln!(
            self.stdin,
            ". ./{script} </dev/null >tour-{n}.out 2>&1; echo '{done}'"
        )
        .map_err(|e| format!("the shell is gone: {e}"))?;
        let printed = || std::fs::read_to_string(&out).unwrap_or_default();
        let deadline = Instant::now() + BLOCK_TIMEOUT;
        loop {
            match self
                .done
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(line) if line == done => return Ok(printed()),
                Ok(_) => continue,
                Err(RecvTimeoutError::Timeout) => {
                    return Err(format!(
                        "did not finish within {BLOCK_TIMEOUT:?}; it printed:\n{}",
                        printed()
                    ))
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let status = self.child.wait().map(|s| s.to_string());
                    return Err(format!(
                        "a command failed (the shell stopped: {status:?}); it printed:\n{}",
                        printed()
                    ));
                }
            }
        }
    }
}

impl Drop for Shell {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The tools the tour's commands use; the test fails without them.
fn require_tools(dir: &Path) {
    for tool in ["bash", "curl", "jq"] {
        let found = command("sh", dir)
            .args(["-c", &format!("command -v {tool}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            found,
            "the README's tour needs {tool}, which is not installed here \
             (Debian: apt-get install -y {tool}; .ci/run installs curl and jq)"
        );
    }
}

/// A block as the test runs it: the built binary for `cargo run`, the
/// runner's address for the README's.
fn localise(block: &str, bin: &str, base: &str) -> String {
    let b = block
        .replace("cargo run -q -p aftersales-local --", &format!("'{bin}'"))
        .replace("http://127.0.0.1:8080", base);
    assert!(
        !b.contains("cargo ") && !b.contains("127.0.0.1:8080"),
        "a command of the tour calls cargo or the runner in a way this test \
         does not replace (use `cargo run -q -p aftersales-local --` and \
         http://127.0.0.1:8080):\n{block}"
    );
    b
}

#[test]
fn the_readme_tour_works_as_written() {
    let blocks = tour_blocks(README);
    let expect = expectations();
    let list = || {
        blocks
            .iter()
            .enumerate()
            .map(|(i, b)| format!("  {}: {}", i + 1, b.lines().next().unwrap_or("")))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(
        blocks.len(),
        expect.len(),
        "the tour has {} code blocks, this test knows {}: update `expectations` \
         with the README\n{}",
        blocks.len(),
        expect.len(),
        list()
    );
    for (i, (b, e)) in blocks.iter().zip(&expect).enumerate() {
        assert!(
            b.contains(e.marker),
            "block {} of the tour should contain {:?}: update `expectations` \
             with the README\n{}",
            i + 1,
            e.marker,
            list()
        );
    }

    let dir = tempfile::tempdir().expect("a folder for the tour");
    require_tools(dir.path());
    let addr = format!("127.0.0.1:{}", free_port());
    let base = format!("http://{addr}");
    let runner = Proc::runner(dir.path(), &addr);
    let mut shell = Shell::start(dir.path());
    let bin = env!("CARGO_BIN_EXE_aftersales-local");

    for (i, (block, e)) in blocks.iter().zip(&expect).enumerate() {
        let n = i + 1;
        let script = localise(block, bin, &base);
        // Blocks that change nothing may be waiting for the rules, the
        // sandbox or the notifications: run them again until they show
        // what the text says. The others run once.
        let read_only = !block.contains("-X ") && !block.contains('>');
        let deadline = Instant::now() + PATIENCE;
        let mut attempts = 0;
        let out = loop {
            attempts += 1;
            let out = shell.run(&script).unwrap_or_else(|why| {
                panic!(
                    "block {n} of the tour {why}\n--- block:\n{block}\n--- runner:\n{}",
                    runner.log_text()
                )
            });
            let verdict = if out.contains("\"error\"") {
                Err(format!("it answered an error: {out}"))
            } else {
                (e.check)(&out)
            };
            match verdict {
                Ok(()) => break out,
                Err(_) if read_only && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(250));
                }
                Err(why) => panic!(
                    "block {n} of the tour does not show what the README says \
                     (after {attempts} run(s)): {why}\n--- block:\n{block}\n--- it printed:\n{out}\n--- runner:\n{}",
                    runner.log_text()
                ),
            }
        };
        // Sent again with its Idempotency-Key, a claim is the same claim.
        if block.contains("Idempotency-Key") {
            let again = shell
                .run(&script)
                .unwrap_or_else(|why| panic!("block {n} again {why}"));
            assert_eq!(
                out, again,
                "block {n}: the same Idempotency-Key made another claim"
            );
        }
    }
}
