//! The soak (issue 14): refunds executed with every refund-queue message
//! delivered several times and the executor killed with SIGKILL at random
//! moments, on both engines; exits non-zero on any violation.
//!
//! ```text
//! cargo run --release -p aftersales-tests --bin soak -- \
//!     [--engine sqlite|dynamodb|both] [--refunds 10000] [--copies 3] \
//!     [--workers 5] [--kill-ms 200-2000] [--seed N]
//! ```
//!
//! `soak executor` is the executor process the soak starts and kills
//! (its settings come in its environment).

use aftersales_tests::soak::{self, Engine, Soak};

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn number(name: &str, default: u64) -> u64 {
    arg(name).map_or(default, |v| {
        v.parse()
            .unwrap_or_else(|_| panic!("{name}: a number, not {v}"))
    })
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    if std::env::args().nth(1).as_deref() == Some("executor") {
        return match soak::executor::main().await {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("soak executor: {e}");
                std::process::ExitCode::from(2)
            }
        };
    }
    let engines = match arg("--engine").as_deref().unwrap_or("both") {
        "both" => vec![Engine::Sqlite, Engine::Dynamodb],
        other => vec![Engine::parse(other).expect("--engine: sqlite, dynamodb or both")],
    };
    let (lo, hi) = arg("--kill-ms")
        .as_deref()
        .unwrap_or("200-2000")
        .split_once('-')
        .map(|(a, b)| (a.parse().expect("--kill-ms"), b.parse().expect("--kill-ms")))
        .expect("--kill-ms LOW-HIGH");
    let seed = number(
        "--seed",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64),
    );
    let executor = std::env::current_exe().expect("this program's path");
    let mut failed = false;
    for engine in engines {
        let s = Soak {
            engine,
            refunds: number("--refunds", 10_000) as usize,
            copies: number("--copies", 3) as usize,
            workers: number("--workers", 5) as usize,
            executor: executor.clone(),
            kill_after_ms: (lo, hi),
            seed,
        };
        let report = soak::run(&s).await;
        println!("seed {seed} {report}");
        failed |= !report.violations.is_empty();
    }
    if failed {
        std::process::ExitCode::FAILURE
    } else {
        std::process::ExitCode::SUCCESS
    }
}
