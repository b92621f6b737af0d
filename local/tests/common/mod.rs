//! What the runner's end-to-end tests share: a free loopback port, the
//! runner and other child processes started in a folder of the test's own
//! (killed when the test ends, however it ends), development tokens.
//! Each test file uses a part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Environment that would point the runner or the commands elsewhere.
const FOREIGN_ENV: &[&str] = &[
    "AFTERSALES_ADDR",
    "AFTERSALES_DATA",
    "AFTERSALES_DEV_SECRET",
    "AFTERSALES_PROVIDERS",
    "WECHATPAY_CONFIG",
    "ALIPAY_CONFIG",
    "ALIPAY_PAYOUT_CONFIG",
    "STRIPE_CONFIG",
    "AWS_ENDPOINT_URL",
    "AWS_PROFILE",
];

/// `program` run in `dir`, without the environment of [`FOREIGN_ENV`].
pub fn command(program: impl AsRef<std::ffi::OsStr>, dir: &Path) -> Command {
    let mut c = Command::new(program);
    c.current_dir(dir);
    for v in FOREIGN_ENV {
        c.env_remove(v);
    }
    c
}

/// The runner binary of this build, run in `dir`.
pub fn runner_command(dir: &Path) -> Command {
    command(env!("CARGO_BIN_EXE_aftersales-local"), dir)
}

/// A child process that listens on an address, killed when dropped.
pub struct Proc {
    child: Child,
    log: PathBuf,
    what: &'static str,
}

impl Proc {
    /// Starts `cmd` (output to `log`) and waits up to 30 s for `addr` to
    /// take connections; fails the test with the log's end if it does not.
    pub fn start(what: &'static str, mut cmd: Command, log: PathBuf, addr: &str) -> Proc {
        let out = std::fs::File::create(&log).expect("a log file");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log"))
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("{what} does not start: {e}"));
        let mut p = Proc { child, log, what };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(addr).is_err() {
            if let Ok(Some(status)) = p.child.try_wait() {
                panic!("{what} stopped ({status}):\n{}", p.log_text());
            }
            assert!(
                Instant::now() < deadline,
                "{what} did not listen on {addr} within 30 s:\n{}",
                p.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        p
    }

    /// The runner serving on `addr` with its data in `dir/data`.
    pub fn runner(dir: &Path, addr: &str) -> Proc {
        Proc::runner_with(dir, addr, &[])
    }

    /// The runner on `engine`: `sqlite` (its embedded store, as
    /// [`Proc::runner`]), or `dynamodb`: a fresh table shaped like the
    /// template's on the tests' moto (started on first use), the runner
    /// pointed at it with `--dynamodb`.
    pub async fn runner_on(engine: &str, dir: &Path, addr: &str) -> Proc {
        match engine {
            "sqlite" => Proc::runner(dir, addr),
            "dynamodb" => {
                let table = aftersales_tests::dynamo_table_without_stream().await;
                let mut serve = runner_command(dir);
                serve
                    .args(["serve", "--addr", addr, "--data", "data"])
                    .args(["--dynamodb", &table.table])
                    .env("AWS_ENDPOINT_URL", aftersales_tests::moto::endpoint())
                    .env("AWS_REGION", "us-east-1")
                    .env("AWS_ACCESS_KEY_ID", "test")
                    .env("AWS_SECRET_ACCESS_KEY", "test")
                    .env("RUST_LOG", "warn");
                Proc::start("the runner", serve, dir.join("runner.log"), addr)
            }
            other => panic!("no engine {other}: sqlite or dynamodb"),
        }
    }

    /// [`Proc::runner`] with more `serve` options.
    pub fn runner_with(dir: &Path, addr: &str, options: &[&str]) -> Proc {
        let mut serve = runner_command(dir);
        serve
            .args(["serve", "--addr", addr, "--data", "data"])
            .args(options)
            .env("RUST_LOG", "warn");
        Proc::start("the runner", serve, dir.join("runner.log"), addr)
    }

    /// The last lines of its output.
    pub fn log_text(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        format!(
            "--- {} (last lines):\n{}",
            self.what,
            lines[lines.len().saturating_sub(40)..].join("\n")
        )
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A development token, as the README mints them (`args`: `customer alice`,
/// `staff st-1 shop-1 reviewer`...), for the runner's data in `dir/data`.
pub fn token(dir: &Path, args: &[&str]) -> String {
    let out = runner_command(dir)
        .arg("token")
        .args(args)
        .args(["--data", "data"])
        .output()
        .expect("the runner mints a token");
    assert!(out.status.success(), "token {args:?}: {out:?}");
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_owned()
}
pub mod browser;
pub mod typescript;
