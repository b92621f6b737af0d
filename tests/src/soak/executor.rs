//! The refund executor as a process of its own, and the parent's loop that
//! kills it at random moments.
//!
//! The child ([`main`]) is what runs in production around the queue: it
//! receives batches from the refund queue, has them executed — on DynamoDB
//! by the refund function's handler (`lambda_sqs::handle`), on SQLite by
//! the runner's refund consumer (`dispatch::deliver`) — and deletes what
//! succeeded, as Lambda's SQS event source does. Its sandbox provider keeps
//! its journal in the soak's directory, like the runner's.

use super::setup::World;
use super::{Engine, Rng, Soak};
use aftersales::app::dispatch::{deliver, Consumer};
use aftersales::app::Services;
use aftersales::lambda_sqs::Backoff;
use aftersales::providers::sandbox::Sandbox;
use aftersales::providers::ProviderSet;
use aftersales::repo::OutboxEvent;
use aftersales::store::dynamodb::DynamoTable;
use aftersales::store::sqlite::SqliteTable;
use aftersales::store::Table;
use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use std::collections::HashSet;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The child's settings, passed in its environment.
const ENGINE: &str = "SOAK_ENGINE";
const DB: &str = "SOAK_DB";
const TABLE: &str = "SOAK_TABLE";
const QUEUE_URL: &str = "SOAK_QUEUE_URL";
const JOURNAL: &str = "SOAK_JOURNAL";
const DELIVERIES: &str = "SOAK_DELIVERIES";
const WORKERS: &str = "SOAK_WORKERS";

/// Starts executors and kills each after a random time, until the queue is
/// empty; returns how many were killed while work was left. A life is
/// counted from the executor's first delivery, so that a slow start (a
/// loaded machine, a debug build) does not leave it killed before it ever
/// works; the first is killed soon after, so that even a small soak kills an
/// executor mid-work.
pub async fn run_with_kills(soak: &Soak, world: &World, rng: &mut Rng, fed: &AtomicBool) -> usize {
    let mut kills = 0;
    loop {
        let first = kills == 0;
        let delivered_before = deliveries_size(world);
        let mut child = tokio::process::Command::new(&soak.executor)
            .arg("executor")
            .env(ENGINE, world.engine.name())
            .env(DB, &world.db)
            .env(TABLE, &world.table_name)
            .env(QUEUE_URL, &world.queue_url)
            .env(JOURNAL, &world.journal)
            .env(DELIVERIES, &world.deliveries)
            .env(WORKERS, soak.workers.to_string())
            .env(crate::moto::URL_ENV, crate::moto::endpoint())
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", soak.executor.display()));
        let life = if first {
            Duration::from_millis(rng.between(0, soak.kill_after_ms.0))
        } else {
            Duration::from_millis(rng.between(soak.kill_after_ms.0, soak.kill_after_ms.1))
        };
        tokio::select! {
            _ = async {
                // Nothing more arrives once the queue is empty.
                let mut polls = 0u32;
                while deliveries_size(world) == delivered_before {
                    polls += 1;
                    if polls.is_multiple_of(200) && drained(world, fed).await {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                tokio::time::sleep(life).await
            } => {}
            status = child.wait() => panic!("the executor ended by itself: {status:?}"),
        }
        let done = !first && drained(world, fed).await;
        // SIGKILL: no destructor, no flush, mid-call or mid-commit.
        child.start_kill().expect("SIGKILL the executor");
        child.wait().await.expect("reap the executor");
        if done {
            return kills;
        }
        kills += 1;
    }
}

/// Every message sent, and none left on the queue.
async fn drained(world: &World, fed: &AtomicBool) -> bool {
    fed.load(Ordering::SeqCst) && world.queue_depth().await == 0
}

fn deliveries_size(world: &World) -> u64 {
    std::fs::metadata(&world.deliveries).map_or(0, |m| m.len())
}

fn setting(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("{name} is not set"))
}

/// The child: executes the queue's messages until killed, or until its
/// parent is gone.
pub async fn main() -> Result<(), String> {
    let engine = Engine::parse(&setting(ENGINE)?).ok_or("SOAK_ENGINE: sqlite or dynamodb")?;
    let table: Arc<dyn Table> = match engine {
        Engine::Sqlite => Arc::new(
            SqliteTable::open(std::path::Path::new(&setting(DB)?)).map_err(|e| e.to_string())?,
        ),
        Engine::Dynamodb => Arc::new(DynamoTable::new(
            crate::moto::dynamodb_client().await,
            setting(TABLE)?,
        )),
    };
    let sandbox = Arc::new(Sandbox::new());
    sandbox
        .remember_in(std::path::Path::new(&setting(JOURNAL)?))
        .map_err(|e| format!("sandbox journal: {e}"))?;
    let mut services = Services::new(table);
    services.providers = ProviderSet::all(sandbox);
    let sqs = aws_sdk_sqs::Client::new(&crate::moto::sdk_config().await);
    let queue_url = setting(QUEUE_URL)?;
    let deliveries = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(setting(DELIVERIES)?)
        .map_err(|e| format!("deliveries log: {e}"))?;
    let worker = Worker {
        engine,
        services,
        backoff: Arc::new(Backoff {
            client: sqs.clone(),
            queue_url: queue_url.clone(),
        }),
        sqs,
        queue_url,
        deliveries: Arc::new(Mutex::new(deliveries)),
    };
    let workers: usize = setting(WORKERS)?.parse().map_err(|_| "SOAK_WORKERS")?;
    let parent = std::os::unix::process::parent_id();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..workers {
        let w = worker.clone();
        tasks.spawn(async move {
            while std::os::unix::process::parent_id() == parent {
                w.round().await;
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.map_err(|e| e.to_string())?;
    }
    Ok(())
}

#[derive(Clone)]
struct Worker {
    engine: Engine,
    services: Services,
    backoff: Arc<Backoff>,
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    deliveries: Arc<Mutex<std::fs::File>>,
}

impl Worker {
    /// One receive, execute, delete.
    async fn round(&self) {
        let Ok(out) = self
            .sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
            .send()
            .await
        else {
            return;
        };
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            return;
        }
        self.note_deliveries(&messages);
        let failed = match self.engine {
            Engine::Dynamodb => self.handle_batch(&messages).await,
            Engine::Sqlite => self.consume(&messages).await,
        };
        let done: Vec<_> = messages
            .iter()
            .filter(|m| !failed.contains(m.message_id().unwrap_or_default()))
            .enumerate()
            .map(|(i, m)| {
                aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .build()
                    .expect("a delete entry")
            })
            .collect();
        if !done.is_empty() {
            // A lost delete only means one more delivery.
            let _ = self
                .sqs
                .delete_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(done))
                .send()
                .await;
        }
    }

    fn note_deliveries(&self, messages: &[aws_sdk_sqs::types::Message]) {
        let lines: String = messages
            .iter()
            .map(|m| format!("{}\n", m.message_id().unwrap_or_default()))
            .collect();
        if let Ok(mut f) = self.deliveries.lock() {
            // One write(2) on an O_APPEND file: lines never interleave.
            let _ = f.write_all(lines.as_bytes());
        }
    }

    /// The refund function's handler on the batch, as Lambda's SQS event
    /// source hands it over; the message ids it reports for retry.
    async fn handle_batch(&self, messages: &[aws_sdk_sqs::types::Message]) -> HashSet<String> {
        let mut event = SqsEvent::default();
        for m in messages {
            let mut msg = SqsMessage::default();
            msg.message_id = m.message_id.clone();
            msg.receipt_handle = m.receipt_handle.clone();
            msg.body = m.body.clone();
            msg.attributes = m
                .attributes
                .iter()
                .flatten()
                .map(|(k, v)| (k.as_str().to_owned(), v.clone()))
                .collect();
            event.records.push(msg);
        }
        aftersales::lambda_sqs::handle(&self.services, event, Some(&self.backoff))
            .await
            .batch_item_failures
            .into_iter()
            .map(|f| f.item_identifier)
            .collect()
    }

    /// The runner's refund consumer on each event; the ids of those that
    /// failed.
    async fn consume(&self, messages: &[aws_sdk_sqs::types::Message]) -> HashSet<String> {
        let mut failed = HashSet::new();
        for m in messages {
            let id = m.message_id().unwrap_or_default().to_owned();
            let event: OutboxEvent = match serde_json::from_str(m.body().unwrap_or_default()) {
                Ok(e) => e,
                Err(_) => {
                    failed.insert(id);
                    continue;
                }
            };
            if deliver(&self.services, Consumer::Refunds, &event)
                .await
                .is_err()
            {
                failed.insert(id);
            }
        }
        failed
    }
}
