//! The soak: refunds executed under duplicate deliveries and process kills,
//! on either engine, and the checks that money moved exactly once.
//!
//! The parent ([`run`]) files claims through the real API, has the shop's
//! rules approve them (each approval writes a refund and its
//! `refund.requested` outbox event), puts every such event on a real SQS
//! queue (moto) `copies` times, shuffled, and runs the executor
//! ([`executor`]) as a child process that it kills with SIGKILL at random
//! moments and starts again, until the queue is empty. Messages a killed
//! executor had taken come back after the queue's visibility timeout, as on
//! AWS. Then [`verify`] checks the store against the sandbox provider's own
//! journal, the provider's side, which survives the kills.

pub mod executor;
pub mod setup;
pub mod verify;

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

/// Messages on the queue at most (waiting or taken) while it is fed.
const MOST_WAITING: u64 = 1_000;

/// The storage engines the soak runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// The runner's store; the executor is the runner's refund consumer.
    Sqlite,
    /// DynamoDB on moto; the executor is the refund function's SQS handler.
    Dynamodb,
}

impl Engine {
    pub fn name(self) -> &'static str {
        match self {
            Engine::Sqlite => "sqlite",
            Engine::Dynamodb => "dynamodb",
        }
    }
    pub fn parse(s: &str) -> Option<Engine> {
        match s {
            "sqlite" => Some(Engine::Sqlite),
            "dynamodb" => Some(Engine::Dynamodb),
            _ => None,
        }
    }
}

/// What to run.
#[derive(Clone, Debug)]
pub struct Soak {
    pub engine: Engine,
    pub refunds: usize,
    /// How many times each message is put on the queue.
    pub copies: usize,
    /// The executor's concurrent receivers (Lambda's concurrency).
    pub workers: usize,
    /// The executor program: this crate's `soak` binary.
    pub executor: PathBuf,
    /// An executor is killed after a random time in this range (ms).
    pub kill_after_ms: (u64, u64),
    pub seed: u64,
}

/// What happened, and what was wrong.
#[derive(Debug, Default)]
pub struct Report {
    pub engine: &'static str,
    pub refunds: usize,
    pub messages_sent: usize,
    /// Messages the executors received, kills' redeliveries included.
    pub deliveries: usize,
    pub kills: usize,
    pub provider_refunds: usize,
    pub setup: Duration,
    pub run: Duration,
    pub violations: Vec<String>,
}

impl Report {
    pub fn refunds_per_second(&self) -> f64 {
        self.refunds as f64 / self.run.as_secs_f64().max(1e-9)
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} refunds set up in {:.1} s; {} messages sent, {} delivered ({} more than refunds), \
             {} executor kills; executed in {:.1} s ({:.0} refunds/s); {} provider refunds; {} violations",
            self.engine,
            self.refunds,
            self.setup.as_secs_f64(),
            self.messages_sent,
            self.deliveries,
            self.deliveries.saturating_sub(self.refunds),
            self.kills,
            self.run.as_secs_f64(),
            self.refunds_per_second(),
            self.provider_refunds,
            self.violations.len(),
        )?;
        for v in self.violations.iter().take(20) {
            write!(f, "\n  violation: {v}")?;
        }
        Ok(())
    }
}

/// A small deterministic generator (xorshift64*): the seed printed with the
/// figures replays the same kill times and delivery order.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// In `lo..=hi`.
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = (self.next_u64() % (i as u64 + 1)) as usize;
            v.swap(i, j);
        }
    }
}

/// Runs the soak; the report lists every violation found.
pub async fn run(soak: &Soak) -> Report {
    let dir = tempfile::tempdir().expect("a soak directory");
    let mut rng = Rng::new(soak.seed);
    let started = Instant::now();
    let world = setup::World::create(soak.engine, dir.path(), soak.refunds).await;
    let messages = world.refund_messages().await;
    let plan = world.plan(&messages, soak.copies, &mut rng);
    let sent = plan.len();
    let setup = started.elapsed();

    // The queue is fed as it drains, as the pipe feeds it.
    let started = Instant::now();
    let fed = AtomicBool::new(false);
    let ((), kills) = tokio::join!(
        world.feed(plan, MOST_WAITING, &fed),
        executor::run_with_kills(soak, &world, &mut rng, &fed)
    );
    let run = started.elapsed();

    let deliveries = std::fs::read_to_string(&world.deliveries)
        .map(|t| t.lines().count())
        .unwrap_or(0);
    let mut violations = Vec::new();
    if messages.len() != soak.refunds {
        violations.push(format!(
            "{} refund.requested events in the outbox for {} approved claims",
            messages.len(),
            soak.refunds
        ));
    }
    if deliveries < sent {
        violations.push(format!("{deliveries} deliveries of {sent} messages sent"));
    }
    let checked = verify::check(&world).await;
    violations.extend(checked.violations);
    Report {
        engine: soak.engine.name(),
        refunds: soak.refunds,
        messages_sent: sent,
        deliveries,
        kills,
        provider_refunds: checked.provider_refunds,
        setup,
        run,
        violations,
    }
}
