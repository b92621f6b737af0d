//! A small soak on each engine (`cargo run --release -p aftersales-tests
//! --bin soak` runs the full one, see BENCHMARKS.md): refunds whose every
//! queue message comes three times, executed by a process killed at random
//! moments; money moves once per refund and every ledger balances.
//! `SOAK_REFUNDS` sets the size (default 60).

use aftersales_tests::soak::{run, Engine, Soak};

fn soak(engine: Engine) -> Soak {
    Soak {
        engine,
        refunds: std::env::var("SOAK_REFUNDS")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(60),
        copies: 3,
        workers: 5,
        executor: env!("CARGO_BIN_EXE_soak").into(),
        // Short lives, so even a small soak kills executors mid-work; on
        // DynamoDB (moto, a debug build) a batch takes longer than the
        // runner's, and lives shorter than a batch would only ever redeliver.
        kill_after_ms: match engine {
            Engine::Sqlite => (50, 400),
            Engine::Dynamodb => (200, 2000),
        },
        seed: 14,
    }
}

async fn check(engine: Engine) {
    let s = soak(engine);
    let report = run(&s).await;
    println!("{report}");
    assert!(report.violations.is_empty(), "{report}");
    assert_eq!(report.provider_refunds, s.refunds, "{report}");
    assert!(report.deliveries >= 3 * s.refunds, "{report}");
    assert!(report.kills > 0, "no executor was killed: {report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refunds_move_money_once_under_kills_on_sqlite() {
    check(Engine::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refunds_move_money_once_under_kills_on_dynamodb() {
    check(Engine::Dynamodb).await;
}
