//! Processes a test starts and must not outlive it: the Lambda emulator and
//! function binaries of `tests/tests/lambda_local.rs`.
//!
//! Each runs under the same kind of shell watchdog as moto (see
//! [`crate::moto`]): when the test process is gone, however it ended, the
//! watchdog stops the program. Dropping a [`Tied`] stops it at once.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Runs `"$@"` and watches both the test process (`$1`) and it; exits with
/// the program's status when the program ends first.
const WATCHDOG: &str = r#"
parent=$1; shift
"$@" &
m=$!
trap 'kill $m 2>/dev/null' EXIT HUP INT TERM
while kill -0 "$parent" 2>/dev/null && kill -0 "$m" 2>/dev/null; do sleep 0.2; done
kill "$m" 2>/dev/null
wait "$m"
"#;

/// A program running under a watchdog, its output kept in a file.
pub struct Tied {
    name: String,
    watchdog: Child,
    log: File,
}

impl Tied {
    /// Starts `program args` in `dir` with `envs` added to the environment.
    pub fn spawn<I, K, V>(
        name: &str,
        program: impl AsRef<OsStr>,
        args: &[&str],
        dir: &Path,
        envs: I,
    ) -> Tied
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        let log = tempfile::tempfile().expect("a log file");
        let watchdog = Command::new("sh")
            .arg("-c")
            .arg(WATCHDOG)
            .arg("sh")
            .arg(std::process::id().to_string())
            .arg(program.as_ref())
            .args(args)
            .current_dir(dir)
            .envs(envs)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log.try_clone().expect("log handle"))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Tied {
            name: name.to_owned(),
            watchdog,
            log,
        }
    }

    /// The program's exit status, if it has ended.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.watchdog.try_wait().expect("watchdog status")
    }

    /// Waits up to `timeout` for the program to end by itself.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.exited() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// The last lines the program wrote (stdout and stderr).
    pub fn output(&mut self) -> String {
        let mut text = String::new();
        let _ = self.log.seek(SeekFrom::Start(0));
        let _ = self.log.read_to_string(&mut text);
        let lines: Vec<&str> = text.lines().collect();
        format!(
            "--- {} (last lines)\n{}",
            self.name,
            lines[lines.len().saturating_sub(40)..].join("\n")
        )
    }

    /// Waits until something accepts connections on `addr`; panics with the
    /// program's output when it ends or `timeout` passes first.
    pub fn wait_listening(&mut self, addr: SocketAddr, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return;
            }
            if let Some(status) = self.exited() {
                let output = self.output();
                panic!(
                    "{} ended ({status}) before listening on {addr}\n{output}",
                    self.name
                );
            }
            if Instant::now() > deadline {
                let output = self.output();
                panic!(
                    "{} did not listen on {addr} within {timeout:?}\n{output}",
                    self.name
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tied {
    fn drop(&mut self) {
        // The watchdog's trap stops the program.
        let _ = Command::new("kill")
            .arg(self.watchdog.id().to_string())
            .stderr(Stdio::null())
            .status();
        let _ = self.watchdog.wait();
    }
}

/// A loopback port free right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}
