//! The shop's refunds through their indexes, on both engines: the finance
//! export streams every row of the month across its pages (and none of the
//! months around it), and the search pages by order, phone and status
//! through cursors without leaving any out.

use aftersales::auth::StaffRole;
use aftersales::domain::refund::Refund;
use aftersales::repo;
use aftersales::store::{Table, WriteOp};
use aftersales_tests::http::spawn_app;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::Arc;

/// A refund created at `at`, on order `o{order}`, for phone `phone`.
fn refund(n: usize, at: &str, order: usize, phone: &str, status: &str) -> Refund {
    serde_json::from_value(json!({
        "refund_id": format!("R{n:05}"), "shop_id": "shop-1", "order_id": format!("o{order}"),
        "customer_id": format!("c{order}"), "customer_phone": phone,
        "origin": {"kind": "claim", "claim_id": format!("clm_{n}")},
        "payment_id": "P1", "channel": "wechat_pay", "provider_txn_id": "42",
        "payment_total": {"amount": "100.00", "currency": "CNY"},
        "amount": {"amount": "1.00", "currency": "CNY"},
        "status": status, "attempts": 1, "provider_refund_id": null,
        "received_account": null, "failure": null,
        "created_at": at, "updated_at": at, "succeeded_at": null, "history": []
    }))
    .expect("refund")
}

async fn seed(table: &dyn Table, count: usize) -> Vec<Refund> {
    let mut month = Vec::new();
    // Refunds of November, plus a few in October and December.
    for n in 0..count + 10 {
        let at = match n {
            n if n < 5 => format!("2026-10-31T23:59:{:02}Z", 50 + n),
            n if n < 10 => format!("2026-12-01T00:00:0{}Z", n - 5),
            n => format!("2026-11-{:02}T{:02}:{:02}:00Z", 1 + n % 28, n % 24, n % 60),
        };
        let status = if n % 3 == 0 { "failed" } else { "succeeded" };
        let r = refund(n, &at, n % 7, &format!("+86 138-0000-{:04}", n % 5), status);
        // One put each (moto backs a table up for every transaction).
        let WriteOp::Put { item, condition } = repo::refunds::put(&r, None) else {
            unreachable!("a refund is a put")
        };
        table.put(item, condition).await.expect("seed");
        if n >= 10 {
            month.push(r);
        }
    }
    month
}

async fn engine(name: &str) -> Arc<dyn Table> {
    match name {
        "sqlite" => Arc::new(aftersales_tests::sqlite_table()),
        _ => Arc::new(aftersales_tests::dynamo_table_without_stream().await),
    }
}

async fn export_has_every_row_of_the_month(engine_name: &str) {
    let table = engine(engine_name).await;
    // More than two pages of the export (500 refunds a page).
    let month = seed(&*table, 1_020).await;
    let app = spawn_app(table).await;
    let finance = app.staff("fin", "shop-1", &[StaffRole::Finance]);
    let resp = app
        .http
        .get(format!(
            "{}/v1/shops/shop-1/refunds/export?month=2026-11",
            app.base
        ))
        .bearer_auth(&finance)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let csv = resp.text().await.unwrap();
    let rows: Vec<&str> = csv.lines().skip(1).take_while(|l| !l.is_empty()).collect();
    let ids: Vec<&str> = rows.iter().map(|r| r.split(',').next().unwrap()).collect();
    let unique: BTreeSet<&str> = ids.iter().copied().collect();
    assert_eq!(ids.len(), month.len(), "one row per refund of the month");
    assert_eq!(
        unique,
        month.iter().map(|r| r.refund_id.as_str()).collect(),
        "every refund of the month, none of another"
    );
    let failed = month
        .iter()
        .filter(|r| r.status.as_str() == "failed")
        .count();
    assert!(
        csv.contains(&format!("total,wechat_pay,CNY,failed,{failed}.00")),
        "totals over every row: {}",
        &csv[csv.len().saturating_sub(300)..]
    );
}

/// Every page of a search, `limit` at a time, following cursors.
async fn whole_search(app: &aftersales_tests::http::TestApp, query: &str) -> Vec<Value> {
    let staff = app.staff("rev", "shop-1", &[StaffRole::Reviewer]);
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..500 {
        let url = format!(
            "/v1/shops/shop-1/refunds?limit=9&{query}{}",
            cursor
                .as_deref()
                .map(|c| format!("&cursor={c}"))
                .unwrap_or_default()
        );
        let (s, page) = app.call("GET", &url, Some(&staff), None, &[]).await;
        assert_eq!(s, 200, "{page}");
        all.extend(page["refunds"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return all,
        }
    }
    panic!("the search's cursors never end");
}

async fn search_pages_through_indexes(engine_name: &str) {
    let table = engine(engine_name).await;
    let all = seed(&*table, 120).await;
    let app = spawn_app(table).await;
    let ids = |rs: &[Value]| -> Vec<String> {
        rs.iter()
            .map(|r| r["refund_id"].as_str().unwrap().to_owned())
            .collect()
    };
    let want = |f: &dyn Fn(&Refund) -> bool| -> BTreeSet<String> {
        all.iter()
            .filter(|r| f(r))
            .map(|r| r.refund_id.to_string())
            .collect()
    };
    for (query, expected) in [
        ("order_id=o3", want(&|r| r.order_id.as_str() == "o3")),
        (
            "customer_phone=13800000002",
            want(&|r| r.customer_phone.as_deref() == Some("+86 138-0000-0002")),
        ),
        ("status=failed", want(&|r| r.status.as_str() == "failed")),
        (
            "status=failed&order_id=o2",
            want(&|r| r.status.as_str() == "failed" && r.order_id.as_str() == "o2"),
        ),
        ("customer_id=c4", want(&|r| r.customer_id.as_str() == "c4")),
    ] {
        let found = whole_search(&app, query).await;
        let found_ids = ids(&found);
        let unique: BTreeSet<String> = found_ids.iter().cloned().collect();
        assert_eq!(unique.len(), found_ids.len(), "{query}: each refund once");
        // The seed adds the months around November too: compare November's.
        let found_nov: BTreeSet<String> = found
            .iter()
            .filter(|r| r["created_at"].as_str().unwrap().starts_with("2026-11"))
            .map(|r| r["refund_id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(found_nov, expected, "{query}");
        let times: Vec<&str> = found
            .iter()
            .map(|r| r["created_at"].as_str().unwrap())
            .collect();
        assert!(
            times.windows(2).all(|w| w[0] >= w[1]),
            "{query}: newest first"
        );
    }
    let staff = app.staff("rev", "shop-1", &[StaffRole::Reviewer]);
    let (s, e) = app
        .call(
            "GET",
            "/v1/shops/shop-1/refunds?cursor=bm9wZQ",
            Some(&staff),
            None,
            &[],
        )
        .await;
    assert_eq!(
        (s, &e["error"]["code"]),
        (422, &json!("invalid_cursor")),
        "{e}"
    );
}

macro_rules! on_both_engines {
    ($($name:ident),* $(,)?) => {
        mod sqlite { $( #[tokio::test] async fn $name() { super::$name("sqlite").await } )* }
        mod dynamodb { $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() { super::$name("dynamodb").await } )* }
    };
}

on_both_engines!(
    export_has_every_row_of_the_month,
    search_pages_through_indexes,
);
