//! The soak's world: a store with approved refund-only claims filed
//! through the real API, and the refund queue on moto holding their
//! `refund.requested` events.

use super::{Engine, Rng};
use crate::http::{spawn_app_with, unshipped_order_paid_with, TestApp};
use aftersales::app::Services;
use aftersales::domain::events::EventType;
use aftersales::domain::order::PaymentChannel;
use aftersales::repo::outbox;
use aftersales::store::sqlite::SqliteTable;
use aftersales::store::{Index, Query, Table};
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Claims filed at once while setting up.
const FILING_IN_FLIGHT: usize = 16;
/// On moto fewer: it applies DynamoDB requests one at a time
/// (tests/moto_server.py), so more in flight only wait behind each other,
/// and on a loaded machine 16 of them can outlast the client's 30 s timeout.
const FILING_IN_FLIGHT_ON_MOTO: usize = 4;
/// Seconds a received message stays hidden: a killed executor's messages
/// come back after this.
pub const VISIBILITY_TIMEOUT_SECS: i32 = 3;

pub struct World {
    pub engine: Engine,
    pub table: Arc<dyn Table>,
    /// The SQLite file (SQLite engine).
    pub db: PathBuf,
    /// The table's name on moto (DynamoDB engine).
    pub table_name: String,
    pub sqs: aws_sdk_sqs::Client,
    pub queue_url: String,
    /// The sandbox provider's journal: every refund it took, one JSON line.
    pub journal: PathBuf,
    /// One line per message an executor received.
    pub deliveries: PathBuf,
    /// The approved claims, one refund each.
    pub claims: Vec<String>,
}

impl World {
    pub async fn create(engine: Engine, dir: &Path, refunds: usize) -> World {
        let db = dir.join("aftersales.db");
        let (table, table_name): (Arc<dyn Table>, String) = match engine {
            Engine::Sqlite => (
                Arc::new(SqliteTable::open(&db).expect("open the soak's SQLite store")),
                String::new(),
            ),
            Engine::Dynamodb => {
                let t = crate::moto::dynamo_table_without_stream().await;
                let name = t.table.clone();
                (Arc::new(t), name)
            }
        };
        let app = Arc::new(spawn_app_with(Services::new(table.clone())).await);
        let in_flight = match engine {
            Engine::Sqlite => FILING_IN_FLIGHT,
            Engine::Dynamodb => FILING_IN_FLIGHT_ON_MOTO,
        };
        let claims = file_approved_claims(&app, refunds, in_flight).await;
        let sqs = aws_sdk_sqs::Client::new(&crate::moto::sdk_config().await);
        let queue_url = sqs
            .create_queue()
            .queue_name(crate::moto::unique_table_name("soak-refunds"))
            .attributes(
                aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout,
                VISIBILITY_TIMEOUT_SECS.to_string(),
            )
            .send()
            .await
            .expect("CreateQueue")
            .queue_url
            .expect("queue url");
        World {
            engine,
            table,
            db,
            table_name,
            sqs,
            queue_url,
            journal: dir.join("sandbox-refunds.jsonl"),
            deliveries: dir.join("deliveries.log"),
            claims,
        }
    }

    /// The bodies of the refund queue's messages, one per `refund.requested`
    /// event in the outbox: on DynamoDB the table's stream record of the
    /// outbox item, as the refund pipe delivers it; on SQLite the event as
    /// the runner's poller hands it to the refund consumer.
    pub async fn refund_messages(&self) -> Vec<String> {
        let mut out = Vec::new();
        for shard in 0..outbox::SHARDS {
            let pk = outbox::partition(shard);
            match self.engine {
                Engine::Sqlite => out.extend(self.sqlite_events(&pk).await),
                Engine::Dynamodb => out.extend(self.stream_records(&pk).await),
            }
        }
        out
    }

    async fn sqlite_events(&self, pk: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut after = None;
        loop {
            let page = self
                .table
                .query(Query::partition(Index::Primary, pk).limit(500).after(after))
                .await
                .expect("read the outbox");
            for item in page.items {
                let e = outbox::from_item(item).expect("an outbox event");
                if e.event_type == EventType::RefundRequested {
                    out.push(serde_json::to_string(&e).expect("event as JSON"));
                }
            }
            match page.next {
                Some(c) => after = Some(c),
                None => return out,
            }
        }
    }

    async fn stream_records(&self, pk: &str) -> Vec<String> {
        let client = crate::moto::dynamodb_client().await;
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let page = client
                .query()
                .table_name(&self.table_name)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", AttributeValue::S(pk.to_owned()))
                .set_exclusive_start_key(start)
                .send()
                .await
                .expect("Query the outbox");
            for item in page.items.unwrap_or_default() {
                let record = stream_record(&item);
                let is_refund = aftersales::lambda_sqs::refund_id_of(&record)
                    .expect("a decodable record")
                    .is_some();
                if is_refund {
                    out.push(record);
                }
            }
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return out,
            }
        }
    }

    /// Each message `copies` times, all shuffled: the deliveries to make.
    pub fn plan(&self, messages: &[String], copies: usize, rng: &mut Rng) -> Vec<String> {
        let mut all: Vec<String> = messages
            .iter()
            .flat_map(|m| std::iter::repeat_n(m.clone(), copies))
            .collect();
        rng.shuffle(&mut all);
        all
    }

    /// Puts `plan` on the queue in its order, keeping at most about
    /// `most_waiting` messages there (moto's queue slows down with its
    /// length: every send and receive walks the whole list, so 30,000
    /// messages at once would take it hours); sets `fed` when all are sent.
    pub async fn feed(&self, plan: Vec<String>, most_waiting: u64, fed: &AtomicBool) {
        let mut rest = plan.as_slice();
        while !rest.is_empty() {
            let room = most_waiting.saturating_sub(self.queue_depth().await) as usize;
            if room < 10 {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            let (now, later) = rest.split_at(room.min(rest.len()));
            for chunk in now.chunks(10) {
                self.send(chunk).await;
            }
            rest = later;
        }
        fed.store(true, Ordering::SeqCst);
    }

    async fn send(&self, chunk: &[String]) {
        let entries = chunk
            .iter()
            .enumerate()
            .map(|(i, body)| {
                aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(body.as_str())
                    .build()
                    .expect("a batch entry")
            })
            .collect();
        let sent = self
            .sqs
            .send_message_batch()
            .queue_url(&self.queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .expect("SendMessageBatch");
        assert!(
            sent.failed.is_empty(),
            "messages refused: {:?}",
            sent.failed
        );
    }

    /// Messages waiting or taken and not yet deleted.
    pub async fn queue_depth(&self) -> u64 {
        use aws_sdk_sqs::types::QueueAttributeName as A;
        let attrs = self
            .sqs
            .get_queue_attributes()
            .queue_url(&self.queue_url)
            .attribute_names(A::ApproximateNumberOfMessages)
            .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .expect("GetQueueAttributes")
            .attributes
            .unwrap_or_default();
        [
            A::ApproximateNumberOfMessages,
            A::ApproximateNumberOfMessagesNotVisible,
        ]
        .iter()
        .filter_map(|a| attrs.get(a).and_then(|v| v.parse::<u64>().ok()))
        .sum()
    }
}

/// Files `n` refund-only claims on unshipped orders, each its own order
/// and customer, and has the shop's default rules decide them (approved at
/// once: the refund and its event are written in the approval's commit).
async fn file_approved_claims(app: &Arc<TestApp>, n: usize, in_flight: usize) -> Vec<String> {
    let mut claims = Vec::with_capacity(n);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        if tasks.len() >= in_flight {
            claims.push(tasks.join_next().await.expect("a task").expect("filed"));
        }
        let app = app.clone();
        tasks.spawn(async move { file_approved_claim(&app, i).await });
    }
    while let Some(c) = tasks.join_next().await {
        claims.push(c.expect("filed"));
    }
    claims
}

async fn file_approved_claim(app: &TestApp, i: usize) -> String {
    let (customer, order) = (format!("soak-c{i}"), format!("soak-o{i}"));
    let body = unshipped_order_paid_with(&customer, PaymentChannel::WechatPay, &format!("T{i}"));
    assert_eq!(app.put_order("shop-1", &order, &body).await, 201, "{order}");
    let claim = json!({"shop_id": "shop-1", "order_id": order, "type": "refund_only",
                       "reason": "no_longer_wanted", "lines": [{"line_id": "L2", "quantity": 1}]});
    let c = app.file_claim(&customer, &claim).await;
    let id = c["claim_id"].as_str().expect("claim_id").to_owned();
    aftersales::app::review::evaluate_claim(&app.services, &id)
        .await
        .expect("the rules decide");
    id
}

/// The stream record (NEW_AND_OLD_IMAGES) of an item's insert, as JSON:
/// the body the refund pipe puts on the queue.
fn stream_record(item: &HashMap<String, AttributeValue>) -> String {
    let image: serde_json::Map<String, Value> = item
        .iter()
        .map(|(k, v)| (k.clone(), attribute_json(v)))
        .collect();
    let keys: serde_json::Map<String, Value> = ["pk", "sk"]
        .iter()
        .filter_map(|k| item.get(*k).map(|v| ((*k).to_owned(), attribute_json(v))))
        .collect();
    json!({
        "eventID": uuid::Uuid::new_v4().simple().to_string(),
        "eventName": "INSERT",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "Keys": keys,
            "NewImage": image,
            "SequenceNumber": "1",
            "SizeBytes": 1,
            "StreamViewType": "NEW_AND_OLD_IMAGES"
        },
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/soak/stream/1"
    })
    .to_string()
}

/// An attribute in the stream's JSON form (`{"S": ...}`, `{"N": ...}`...).
fn attribute_json(v: &AttributeValue) -> Value {
    match v {
        AttributeValue::S(s) => json!({"S": s}),
        AttributeValue::N(n) => json!({"N": n}),
        AttributeValue::Bool(b) => json!({"BOOL": b}),
        AttributeValue::Null(_) => json!({"NULL": true}),
        AttributeValue::Ss(ss) => json!({"SS": ss}),
        AttributeValue::Ns(ns) => json!({"NS": ns}),
        AttributeValue::L(l) => json!({"L": l.iter().map(attribute_json).collect::<Vec<_>>()}),
        AttributeValue::M(m) => json!({"M": m
            .iter()
            .map(|(k, v)| (k.clone(), attribute_json(v)))
            .collect::<serde_json::Map<_, _>>()}),
        other => panic!("an outbox item with an unexpected attribute: {other:?}"),
    }
}
