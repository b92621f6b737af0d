//! The rule dry-run over HTTP (issue 15): a candidate rule set replayed over
//! the shop's recent claims shows which decisions would differ, for the
//! shop's admins and reviewers only, and writes nothing.

use aftersales::auth::StaffRole;
use aftersales::store::{Condition, Index, Item, Page, Query, StoreError, Table, WriteOp};
use aftersales_tests::http::{sample_order, spawn_app_at, TestApp, TestClock};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Two days after the sample order shipped.
const NOW: &str = "2026-11-23T10:00:00Z";

/// A table that remembers every key written and counts the writes, so a
/// test can read back every item the table holds.
struct Watched {
    inner: Arc<dyn Table>,
    keys: Mutex<BTreeSet<(String, String)>>,
    writes: AtomicUsize,
}

impl Watched {
    fn note(&self, pk: &str, sk: &str) {
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.keys
            .lock()
            .unwrap()
            .insert((pk.to_owned(), sk.to_owned()));
    }

    /// Every item in the table, by key.
    async fn items(&self) -> BTreeMap<(String, String), String> {
        let keys: Vec<_> = self.keys.lock().unwrap().iter().cloned().collect();
        let mut out = BTreeMap::new();
        for (pk, sk) in keys {
            if let Some(i) = self.inner.get(&pk, &sk).await.unwrap() {
                out.insert((pk, sk), format!("{i:?}"));
            }
        }
        out
    }
}

#[async_trait::async_trait]
impl Table for Watched {
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        self.inner.get(pk, sk).await
    }
    async fn put(&self, item: Item, condition: Condition) -> Result<(), StoreError> {
        self.note(&item.pk, &item.sk);
        self.inner.put(item, condition).await
    }
    async fn delete(&self, pk: &str, sk: &str, condition: Condition) -> Result<(), StoreError> {
        self.note(pk, sk);
        self.inner.delete(pk, sk, condition).await
    }
    async fn transact(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        for op in &ops {
            if !matches!(op, WriteOp::Check { .. }) {
                let (pk, sk) = op.key();
                self.note(pk, sk);
            }
        }
        self.inner.transact(ops).await
    }
    async fn query(&self, query: Query) -> Result<Page, StoreError> {
        self.inner.query(query).await
    }
    async fn get_many(&self, keys: &[(String, String)]) -> Result<Vec<Option<Item>>, StoreError> {
        self.inner.get_many(keys).await
    }
    async fn count(&self, index: Index, pk: &str) -> Result<u64, StoreError> {
        self.inner.count(index, pk).await
    }
}

fn claim(shop: &str, order: &str, line: &str, quantity: u32) -> Value {
    json!({"shop_id": shop, "order_id": order, "type": "return_refund", "reason": "wrong_size",
           "lines": [{"line_id": line, "quantity": quantity}]})
}

async fn dry_run(app: &TestApp, token: &str, shop: &str, body: &Value) -> (u16, Value) {
    app.call(
        "POST",
        &format!("/v1/shops/{shop}/rules/dry-run"),
        Some(token),
        Some(body),
        &[],
    )
    .await
}

#[tokio::test]
async fn dry_run_shows_the_claims_a_changed_rule_set_decides_differently() {
    let watched = Arc::new(Watched {
        inner: Arc::new(aftersales_tests::sqlite_table()),
        keys: Mutex::default(),
        writes: AtomicUsize::new(0),
    });
    let clock = TestClock::at(NOW);
    let app = spawn_app_at(watched.clone(), &clock).await;
    let reviewer = app.staff("rev-1", "shop-1", &[StaffRole::Reviewer]);

    // Three small returns (the mug, 30.00): the default rules approve them.
    // Two large ones (the T-shirts): no rule decides, staff do.
    let mut small = BTreeSet::new();
    for i in 0..5 {
        let order = format!("o-{i}");
        app.push_order(&order, &sample_order(&format!("cust-{i}")))
            .await;
        let body = if i < 3 {
            claim("shop-1", &order, "L2", 1)
        } else {
            claim("shop-1", &order, "L1", 2)
        };
        let c = app.file_claim(&format!("cust-{i}"), &body).await;
        if i < 3 {
            small.insert(c["claim_id"].as_str().unwrap().to_owned());
        }
    }
    app.drain().await;

    // The candidate: the default set, with small refunds rejected instead.
    let (s, current) = app
        .call("GET", "/v1/shops/shop-1/rules", Some(&reviewer), None, &[])
        .await;
    assert_eq!(s, 200, "{current}");
    let mut candidate = current.clone();
    for r in candidate["rules"].as_array_mut().unwrap() {
        if r["id"] == "small-refund" {
            r["then"] = json!({"decision": "reject", "reason": "outside_return_window"});
        }
    }

    let before = watched.items().await;
    let writes = watched.writes.load(Ordering::SeqCst);

    // The current set replayed changes nothing.
    let (s, same) = dry_run(
        &app,
        &reviewer,
        "shop-1",
        &json!({"rules": current, "days": 30}),
    )
    .await;
    assert_eq!(s, 200, "{same}");
    assert_eq!(same["examined"], 5, "{same}");
    assert_eq!(same["differing"], 0, "{same}");

    let (s, v) = dry_run(
        &app,
        &reviewer,
        "shop-1",
        &json!({"rules": candidate, "days": 30}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["examined"], 5, "{v}");
    assert_eq!(v["not_decided_by_rules"], 0, "{v}");
    assert_eq!(v["differing"], 3, "{v}");
    let differing: BTreeSet<String> = v["claims"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["claim_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(differing, small);
    let one = &v["claims"][0];
    assert_eq!(one["recorded"]["outcome"]["decision"], "approve", "{one}");
    assert_eq!(one["recorded"]["rule_id"], "small-refund", "{one}");
    assert_eq!(one["candidate"]["outcome"]["decision"], "reject", "{one}");
    assert_eq!(
        one["candidate"]["outcome"]["reason"],
        "outside_return_window"
    );
    assert_eq!(one["candidate"]["rule_id"], "small-refund", "{one}");

    // An admin may too; one day back still sees today's claims.
    let admin = app.staff("boss", "shop-1", &[StaffRole::Admin]);
    let (s, v) = dry_run(
        &app,
        &admin,
        "shop-1",
        &json!({"rules": candidate, "days": 1}),
    )
    .await;
    assert_eq!((s, v["differing"].clone()), (200, json!(3)), "{v}");

    // Not finance, not another shop's staff, not a customer.
    let body = json!({"rules": candidate, "days": 30});
    for token in [
        app.staff("fin", "shop-1", &[StaffRole::Finance]),
        app.staff("rev-2", "shop-2", &[StaffRole::Admin, StaffRole::Reviewer]),
        app.customer("cust-0"),
    ] {
        let (s, v) = dry_run(&app, &token, "shop-1", &body).await;
        assert_eq!(s, 403, "{v}");
        assert_eq!(v["error"]["code"], "forbidden", "{v}");
    }

    // A bad set is refused as the rule-set PUT refuses it; so are bad days.
    let bad = json!({"rules": {"rules": [{"id": "x", "when": {"amount": {"lessthan": "5.00"}},
                                          "then": {"decision": "approve"}}]}, "days": 30});
    let (s, v) = dry_run(&app, &reviewer, "shop-1", &bad).await;
    assert_eq!(s, 422, "{v}");
    assert_eq!(v["error"]["code"], "invalid_rules", "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("rules[0].when.amount"),
        "{v}"
    );
    let (s, v) = app
        .call(
            "PUT",
            "/v1/shops/shop-1/rules",
            Some(&admin),
            Some(&bad["rules"]),
            &[],
        )
        .await;
    assert_eq!(
        (s, &v["error"]["code"]),
        (422, &json!("invalid_rules")),
        "{v}"
    );
    for days in [0, 91] {
        let (s, v) = dry_run(
            &app,
            &reviewer,
            "shop-1",
            &json!({"rules": candidate, "days": days}),
        )
        .await;
        assert_eq!(s, 422, "{v}");
        assert_eq!(v["error"]["code"], "invalid_days", "{v}");
    }

    // Nothing was written, and every item is as it was.
    assert_eq!(watched.writes.load(Ordering::SeqCst), writes);
    assert_eq!(watched.items().await, before);
    assert_eq!(app.drain().await, 0);
}

#[tokio::test]
async fn dry_run_reads_past_one_page_and_stops_at_the_period() {
    let clock = TestClock::at(NOW);
    let app = spawn_app_at(Arc::new(aftersales_tests::sqlite_table()), &clock).await;
    let reviewer = app.staff("rev-1", "shop-1", &[StaffRole::Reviewer]);
    // 205 small claims (more than one page of 200) filed now.
    for i in 0..205 {
        let order = format!("o-{i}");
        app.push_order(&order, &sample_order("alice")).await;
        app.file_claim("alice", &claim("shop-1", &order, "L2", 1))
            .await;
    }
    app.drain().await;
    let (_, mut candidate) = app
        .call("GET", "/v1/shops/shop-1/rules", Some(&reviewer), None, &[])
        .await;
    for r in candidate["rules"].as_array_mut().unwrap() {
        if r["id"] == "small-refund" {
            r["then"] = json!({"decision": "manual_review"});
        }
    }
    let (s, v) = dry_run(
        &app,
        &reviewer,
        "shop-1",
        &json!({"rules": candidate, "days": 7}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["examined"], 205, "{}", v["examined"]);
    assert_eq!(v["differing"], 205, "{}", v["differing"]);
    assert_eq!(
        v["claims"].as_array().unwrap().len() as u64,
        v["differing"].as_u64().unwrap()
    );
    // Eight days on, the period has none of them.
    clock.advance_hours(24 * 8);
    let (s, v) = dry_run(
        &app,
        &reviewer,
        "shop-1",
        &json!({"rules": candidate, "days": 7}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["examined"], 0, "{v}");
}
