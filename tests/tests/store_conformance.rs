//! The table port's conformance suite: every test below is written once
//! against `&dyn Table` and runs against both engines (SQLite in memory and
//! DynamoDB on moto, with the table created from `infra/template.yaml`).

use std::collections::HashSet;

use aftersales::store::sqlite::SqliteTable;
use aftersales::store::{
    Condition, Cursor, Index, IndexKey, Item, Page, Query, StoreError, Table, WriteOp,
    MAX_TRANSACTION_OPS,
};
use serde_json::{json, Value};

// ---------------------------------------------------------------- helpers

fn item(pk: &str, sk: &str, body: Value) -> Item {
    Item::new(pk, sk, body)
}

fn with_gsi1(mut item: Item, pk: &str, sk: &str) -> Item {
    item.gsi1 = Some(IndexKey {
        pk: pk.into(),
        sk: sk.into(),
    });
    item
}

fn with_gsi2(mut item: Item, pk: &str, sk: &str) -> Item {
    item.gsi2 = Some(IndexKey {
        pk: pk.into(),
        sk: sk.into(),
    });
    item
}

fn with_index(mut item: Item, index: Index, pk: &str, sk: &str) -> Item {
    item.set_index_key(
        index,
        Some(IndexKey {
            pk: pk.into(),
            sk: sk.into(),
        }),
    );
    item
}

fn versioned(mut item: Item, version: u64) -> Item {
    item.version = version;
    item
}

async fn put_ok(t: &dyn Table, item: &Item) {
    t.put(item.clone(), Condition::None)
        .await
        .unwrap_or_else(|e| panic!("put {}/{}: {e}", item.pk, item.sk));
}

async fn get(t: &dyn Table, pk: &str, sk: &str) -> Option<Item> {
    t.get(pk, sk)
        .await
        .unwrap_or_else(|e| panic!("get {pk}/{sk}: {e}"))
}

#[track_caller]
fn assert_condition_failed(result: Result<(), StoreError>, pk: &str, sk: &str) {
    match result {
        Err(StoreError::ConditionFailed { pk: p, sk: s }) => {
            assert_eq!((p.as_str(), s.as_str()), (pk, sk));
        }
        other => panic!("expected ConditionFailed for {pk}/{sk}, got {other:?}"),
    }
}

#[track_caller]
fn assert_cancelled(result: Result<(), StoreError>, expected: &[usize]) {
    match result {
        Err(StoreError::TransactionCancelled { failed }) => assert_eq!(failed, expected),
        other => panic!("expected TransactionCancelled {expected:?}, got {other:?}"),
    }
}

#[track_caller]
fn assert_invalid<T: std::fmt::Debug>(result: Result<T, StoreError>) {
    match result {
        Err(StoreError::Invalid(_)) => {}
        other => panic!("expected Invalid, got {other:?}"),
    }
}

fn sks(items: &[Item]) -> Vec<String> {
    items.iter().map(|i| i.sk.clone()).collect()
}

async fn query(t: &dyn Table, q: Query) -> Page {
    t.query(q.clone())
        .await
        .unwrap_or_else(|e| panic!("query {q:?}: {e}"))
}

/// Reads a whole query page by page; checks every page's size and returns
/// all items in order plus the number of pages.
async fn read_all_pages(t: &dyn Table, q: Query, page_size: u32) -> (Vec<Item>, usize) {
    let mut all = Vec::new();
    let mut after: Option<Cursor> = None;
    let mut pages = 0;
    loop {
        let page = query(t, q.clone().limit(page_size).after(after.clone())).await;
        pages += 1;
        assert!(
            page.items.len() <= page_size as usize,
            "page {pages} has {} items, limit {page_size}",
            page.items.len()
        );
        let full = page.items.len() == page_size as usize;
        all.extend(page.items);
        match page.next {
            Some(next) => {
                // A cursor only after a full page (DynamoDB may also give one
                // after a full last page; an empty page then ends the query).
                assert!(full, "a cursor after a short page ({pages})");
                if let Some(prev) = &after {
                    assert_ne!(prev, &next, "the cursor did not move");
                }
                after = Some(next);
            }
            None => break,
        }
        assert!(pages < 1000, "paging does not end");
    }
    (all, pages)
}

// ---------------------------------------------------------------- get / put

async fn get_missing_and_present(t: &dyn Table) {
    assert_eq!(get(t, "ORDER#1", "META").await, None);

    let mut stored = with_gsi2(
        with_gsi1(
            item("ORDER#1", "META", json!({"a": 1})),
            "SHOP#1",
            "2026-01-01",
        ),
        "STATUS#open",
        "ORDER#1",
    );
    stored.version = 9_007_199_254_740_993; // 2^53 + 1: not exact as an f64
    stored.expires_at = Some(4_102_444_800);
    put_ok(t, &stored).await;

    assert_eq!(get(t, "ORDER#1", "META").await, Some(stored.clone()));
    // Neighbouring keys are distinct items.
    assert_eq!(get(t, "ORDER#1", "META#x").await, None);
    assert_eq!(get(t, "ORDER#10", "META").await, None);
    assert_eq!(get(t, "order#1", "META").await, None);
}

async fn put_not_exists_twice(t: &dyn Table) {
    let first = item("CLAIM#1", "META", json!({"n": "first"}));
    t.put(first.clone(), Condition::NotExists).await.unwrap();
    let second = item("CLAIM#1", "META", json!({"n": "second"}));
    assert_condition_failed(t.put(second, Condition::NotExists).await, "CLAIM#1", "META");
    assert_eq!(get(t, "CLAIM#1", "META").await, Some(first));
}

async fn put_version_is(t: &dyn Table) {
    let v1 = versioned(item("C", "S", json!({"step": 1})), 1);
    t.put(v1.clone(), Condition::NotExists).await.unwrap();

    let v2 = versioned(item("C", "S", json!({"step": 2})), 2);
    t.put(v2.clone(), Condition::VersionIs(1)).await.unwrap();
    assert_eq!(get(t, "C", "S").await, Some(v2.clone()));

    // A stale writer still expecting version 1 loses.
    let stale = versioned(item("C", "S", json!({"step": "stale"})), 2);
    assert_condition_failed(t.put(stale, Condition::VersionIs(1)).await, "C", "S");
    assert_condition_failed(t.put(v2.clone(), Condition::VersionIs(3)).await, "C", "S");
    assert_eq!(get(t, "C", "S").await, Some(v2));

    // VersionIs on a missing item fails and writes nothing.
    let ghost = versioned(item("C", "GHOST", json!({})), 2);
    assert_condition_failed(t.put(ghost, Condition::VersionIs(1)).await, "C", "GHOST");
    assert_eq!(get(t, "C", "GHOST").await, None);
}

async fn put_exists(t: &dyn Table) {
    let x = item("E", "1", json!({"v": "x"}));
    assert_condition_failed(t.put(x.clone(), Condition::Exists).await, "E", "1");
    assert_eq!(get(t, "E", "1").await, None);

    put_ok(t, &x).await;
    let y = versioned(item("E", "1", json!({"v": "y"})), 7);
    t.put(y.clone(), Condition::Exists).await.unwrap();
    assert_eq!(get(t, "E", "1").await, Some(y));
}

async fn put_replaces_whole_item(t: &dyn Table) {
    let mut full = with_gsi2(
        with_gsi1(item("R", "1", json!({"a": 1, "b": 2})), "G1", "s"),
        "G2",
        "s",
    );
    full.expires_at = Some(4_102_444_800);
    put_ok(t, &full).await;
    assert_eq!(
        query(t, Query::partition(Index::Gsi1, "G1"))
            .await
            .items
            .len(),
        1
    );

    // Unconditional put of the same key without indexes, expiry or field b.
    let bare = versioned(item("R", "1", json!({"a": 3})), 2);
    put_ok(t, &bare).await;
    assert_eq!(get(t, "R", "1").await, Some(bare));
    assert_eq!(
        query(t, Query::partition(Index::Gsi1, "G1")).await.items,
        vec![]
    );
    assert_eq!(
        query(t, Query::partition(Index::Gsi2, "G2")).await.items,
        vec![]
    );
}

async fn concurrent_writers_one_wins(t: &dyn Table) {
    put_ok(t, &item("RACE", "1", json!({"w": 0}))).await;
    let write = |w: u32| {
        t.put(
            versioned(item("RACE", "1", json!({ "w": w })), 2),
            Condition::VersionIs(1),
        )
    };
    let (a, b, c, d) = tokio::join!(write(1), write(2), write(3), write(4));
    let results = [a, b, c, d];
    let winners: Vec<u32> = (1..=4)
        .filter(|w| results[*w as usize - 1].is_ok())
        .collect();
    assert_eq!(winners.len(), 1, "exactly one writer wins: {results:?}");
    for r in results.into_iter().filter(|r| r.is_err()) {
        assert_condition_failed(r, "RACE", "1");
    }
    let stored = get(t, "RACE", "1").await.unwrap();
    assert_eq!(stored.body, json!({ "w": winners[0] }));
    assert_eq!(stored.version, 2);
}

// ---------------------------------------------------------------- delete

async fn delete_with_conditions(t: &dyn Table) {
    // Deleting nothing unconditionally is fine.
    t.delete("D", "missing", Condition::None).await.unwrap();
    // Missing item: Exists and VersionIs fail, NotExists succeeds.
    assert_condition_failed(
        t.delete("D", "missing", Condition::Exists).await,
        "D",
        "missing",
    );
    assert_condition_failed(
        t.delete("D", "missing", Condition::VersionIs(1)).await,
        "D",
        "missing",
    );
    t.delete("D", "missing", Condition::NotExists)
        .await
        .unwrap();

    let x = versioned(item("D", "x", json!({"k": true})), 3);
    put_ok(t, &x).await;
    assert_condition_failed(t.delete("D", "x", Condition::VersionIs(2)).await, "D", "x");
    assert_condition_failed(t.delete("D", "x", Condition::NotExists).await, "D", "x");
    assert_eq!(get(t, "D", "x").await, Some(x.clone()));
    t.delete("D", "x", Condition::VersionIs(3)).await.unwrap();
    assert_eq!(get(t, "D", "x").await, None);

    put_ok(t, &x).await;
    t.delete("D", "x", Condition::Exists).await.unwrap();
    assert_eq!(get(t, "D", "x").await, None);

    put_ok(t, &x).await;
    t.delete("D", "x", Condition::None).await.unwrap();
    assert_eq!(get(t, "D", "x").await, None);
}

// ---------------------------------------------------------------- transactions

async fn transaction_all_or_nothing(t: &dyn Table) {
    let a = versioned(item("T", "a", json!({"v": "a1"})), 1);
    let b = versioned(item("T", "b", json!({"v": "b1"})), 1);
    let f = versioned(item("T", "f", json!({"v": "f1"})), 5);
    for i in [&a, &b, &f] {
        put_ok(t, i).await;
    }
    let ops = vec![
        // 0: would succeed
        WriteOp::Put {
            item: item("T", "c", json!({"v": "new"})),
            condition: Condition::NotExists,
        },
        // 1: fails (a is at version 1)
        WriteOp::Put {
            item: versioned(item("T", "a", json!({"v": "a2"})), 2),
            condition: Condition::VersionIs(2),
        },
        // 2: would succeed
        WriteOp::Delete {
            pk: "T".into(),
            sk: "b".into(),
            condition: Condition::VersionIs(1),
        },
        // 3: fails (d does not exist)
        WriteOp::Check {
            pk: "T".into(),
            sk: "d".into(),
            condition: Condition::Exists,
        },
        // 4: would succeed (unconditional)
        WriteOp::Put {
            item: item("T", "e", json!({"v": "e"})),
            condition: Condition::None,
        },
        // 5: fails (f exists)
        WriteOp::Delete {
            pk: "T".into(),
            sk: "f".into(),
            condition: Condition::NotExists,
        },
        // 6: would succeed
        WriteOp::Put {
            item: versioned(item("T", "f2", json!({})), 1),
            condition: Condition::None,
        },
    ];
    assert_cancelled(t.transact(ops).await, &[1, 3, 5]);

    // Nothing was written.
    assert_eq!(get(t, "T", "a").await, Some(a));
    assert_eq!(get(t, "T", "b").await, Some(b));
    assert_eq!(get(t, "T", "c").await, None);
    assert_eq!(get(t, "T", "d").await, None);
    assert_eq!(get(t, "T", "e").await, None);
    assert_eq!(get(t, "T", "f").await, Some(f));
    assert_eq!(get(t, "T", "f2").await, None);
    assert_eq!(
        sks(&query(t, Query::partition(Index::Primary, "T")).await.items),
        ["a", "b", "f"]
    );

    // A single failing condition is reported alone.
    let ops = vec![
        WriteOp::Put {
            item: item("T", "g", json!({})),
            condition: Condition::NotExists,
        },
        WriteOp::Put {
            item: item("T", "a", json!({})),
            condition: Condition::NotExists,
        },
    ];
    assert_cancelled(t.transact(ops).await, &[1]);
    assert_eq!(get(t, "T", "g").await, None);
}

async fn transaction_commits_everything(t: &dyn Table) {
    let a = versioned(item("TX", "a", json!({"v": 1})), 1);
    let b = item("TX", "b", json!({"v": 1}));
    put_ok(t, &a).await;
    put_ok(t, &b).await;

    let a2 = with_gsi1(versioned(item("TX", "a", json!({"v": 2})), 2), "TXG", "a");
    let c = with_gsi1(item("TX", "c", json!({"v": "c"})), "TXG", "c");
    let ops = vec![
        WriteOp::Put {
            item: a2.clone(),
            condition: Condition::VersionIs(1),
        },
        WriteOp::Delete {
            pk: "TX".into(),
            sk: "b".into(),
            condition: Condition::Exists,
        },
        WriteOp::Put {
            item: c.clone(),
            condition: Condition::NotExists,
        },
        WriteOp::Check {
            pk: "TX".into(),
            sk: "nothing".into(),
            condition: Condition::NotExists,
        },
        WriteOp::Delete {
            pk: "TX".into(),
            sk: "never-there".into(),
            condition: Condition::None,
        },
    ];
    t.transact(ops).await.unwrap();
    assert_eq!(get(t, "TX", "a").await, Some(a2.clone()));
    assert_eq!(get(t, "TX", "b").await, None);
    assert_eq!(get(t, "TX", "c").await, Some(c.clone()));
    assert_eq!(get(t, "TX", "nothing").await, None);
    assert_eq!(
        query(t, Query::partition(Index::Gsi1, "TXG")).await.items,
        vec![a2, c]
    );
}

async fn transaction_check_op(t: &dyn Table) {
    let guard = versioned(item("K", "guard", json!({"open": true})), 4);
    put_ok(t, &guard).await;
    let write = item("K", "w", json!({"x": 1}));

    // Check holds: the other write happens, the checked item is untouched.
    t.transact(vec![
        WriteOp::Check {
            pk: "K".into(),
            sk: "guard".into(),
            condition: Condition::VersionIs(4),
        },
        WriteOp::Put {
            item: write.clone(),
            condition: Condition::None,
        },
    ])
    .await
    .unwrap();
    assert_eq!(get(t, "K", "w").await, Some(write.clone()));
    assert_eq!(get(t, "K", "guard").await, Some(guard.clone()));

    // Check fails: nothing written.
    let other = item("K", "w2", json!({"x": 2}));
    assert_cancelled(
        t.transact(vec![
            WriteOp::Put {
                item: other.clone(),
                condition: Condition::None,
            },
            WriteOp::Check {
                pk: "K".into(),
                sk: "guard".into(),
                condition: Condition::VersionIs(3),
            },
        ])
        .await,
        &[1],
    );
    assert_eq!(get(t, "K", "w2").await, None);

    // Check with no condition passes, also on a missing item.
    t.transact(vec![
        WriteOp::Check {
            pk: "K".into(),
            sk: "missing".into(),
            condition: Condition::None,
        },
        WriteOp::Put {
            item: other.clone(),
            condition: Condition::NotExists,
        },
    ])
    .await
    .unwrap();
    assert_eq!(get(t, "K", "w2").await, Some(other));
    assert_eq!(get(t, "K", "missing").await, None);
    assert_eq!(get(t, "K", "guard").await, Some(guard));
}

async fn transaction_invalid_requests(t: &dyn Table) {
    // The same key twice.
    let dup = vec![
        WriteOp::Put {
            item: item("V", "1", json!({})),
            condition: Condition::None,
        },
        WriteOp::Check {
            pk: "V".into(),
            sk: "1".into(),
            condition: Condition::None,
        },
    ];
    assert_invalid(t.transact(dup).await);
    assert_eq!(get(t, "V", "1").await, None);

    // Too many operations.
    let too_many: Vec<WriteOp> = (0..=MAX_TRANSACTION_OPS)
        .map(|i| WriteOp::Put {
            item: item("V", &format!("{i:03}"), json!({})),
            condition: Condition::None,
        })
        .collect();
    assert_eq!(too_many.len(), 101);
    assert_invalid(t.transact(too_many).await);
    assert_eq!(
        query(t, Query::partition(Index::Primary, "V")).await.items,
        vec![]
    );

    // Empty.
    assert_invalid(t.transact(vec![]).await);
}

async fn transaction_of_max_size(t: &dyn Table) {
    let ops: Vec<WriteOp> = (0..MAX_TRANSACTION_OPS)
        .map(|i| WriteOp::Put {
            item: item("MAX", &format!("{i:03}"), json!({ "i": i })),
            condition: Condition::NotExists,
        })
        .collect();
    t.transact(ops).await.unwrap();
    let page = query(t, Query::partition(Index::Primary, "MAX")).await;
    assert_eq!(page.items.len(), MAX_TRANSACTION_OPS);
    assert_eq!(page.next, None);
    for (i, it) in page.items.iter().enumerate() {
        assert_eq!(it.sk, format!("{i:03}"));
        assert_eq!(it.body, json!({ "i": i }));
    }
}

// ---------------------------------------------------------------- invalid items

async fn invalid_items_rejected(t: &dyn Table) {
    assert_invalid(t.put(item("I", "1", json!([1, 2])), Condition::None).await);
    assert_invalid(t.put(item("I", "2", json!("text")), Condition::None).await);
    assert_invalid(t.put(item("", "1", json!({})), Condition::None).await);
    assert_invalid(t.put(item("I", "", json!({})), Condition::None).await);
    assert_invalid(
        t.put(
            with_gsi1(item("I", "3", json!({})), "", "x"),
            Condition::None,
        )
        .await,
    );
    // Over DynamoDB's 400 KB item limit.
    let big = "x".repeat(500 * 1024);
    assert_invalid(
        t.put(item("I", "4", json!({ "big": big })), Condition::None)
            .await,
    );
    assert_invalid(
        t.transact(vec![WriteOp::Put {
            item: item("I", "5", json!({ "big": big })),
            condition: Condition::None,
        }])
        .await,
    );
    assert_eq!(
        query(t, Query::partition(Index::Primary, "I")).await.items,
        vec![]
    );
    // Something close to the limit is fine.
    let large = item("I", "6", json!({ "large": "y".repeat(300 * 1024) }));
    put_ok(t, &large).await;
    assert_eq!(get(t, "I", "6").await, Some(large));
}

// ---------------------------------------------------------------- queries

async fn query_prefix_and_order(t: &dyn Table) {
    // Sort keys compare as UTF-8 bytes: "a#10" < "a#2", "Z" < "a", "z" < "é".
    let keys = ["a#1", "a#2", "a#10", "b#1", "a", "Z", "é", "z", "a#"];
    for (i, sk) in keys.iter().enumerate() {
        put_ok(t, &item("Q", sk, json!({ "i": i }))).await;
    }
    put_ok(t, &item("Q2", "a#1", json!({}))).await;
    put_ok(t, &item("P", "a#1", json!({}))).await;

    let all = query(t, Query::partition(Index::Primary, "Q")).await;
    assert_eq!(
        sks(&all.items),
        ["Z", "a", "a#", "a#1", "a#10", "a#2", "b#1", "z", "é"]
    );
    assert_eq!(all.next, None);
    assert_eq!(all.items[1], item("Q", "a", json!({"i": 4})));

    let back = query(t, Query::partition(Index::Primary, "Q").backward()).await;
    assert_eq!(
        sks(&back.items),
        ["é", "z", "b#1", "a#2", "a#10", "a#1", "a#", "a", "Z"]
    );

    let a = query(t, Query::partition(Index::Primary, "Q").prefix("a#")).await;
    assert_eq!(sks(&a.items), ["a#", "a#1", "a#10", "a#2"]);
    let a1 = query(t, Query::partition(Index::Primary, "Q").prefix("a#1")).await;
    assert_eq!(sks(&a1.items), ["a#1", "a#10"]);
    let a_back = query(
        t,
        Query::partition(Index::Primary, "Q")
            .prefix("a#")
            .backward(),
    )
    .await;
    assert_eq!(sks(&a_back.items), ["a#2", "a#10", "a#1", "a#"]);
    let none = query(t, Query::partition(Index::Primary, "Q").prefix("c")).await;
    assert_eq!(none.items, vec![]);
    assert_eq!(none.next, None);
    let e = query(t, Query::partition(Index::Primary, "Q").prefix("é")).await;
    assert_eq!(sks(&e.items), ["é"]);

    let empty = query(t, Query::partition(Index::Primary, "NOPE")).await;
    assert_eq!(
        empty,
        Page {
            items: vec![],
            next: None
        }
    );

    // A limit larger than the partition: everything, no cursor.
    let big = query(
        t,
        Query::partition(Index::Primary, "Q").prefix("a#").limit(10),
    )
    .await;
    assert_eq!(sks(&big.items), ["a#", "a#1", "a#10", "a#2"]);
    assert_eq!(big.next, None);
}

async fn query_paging(t: &dyn Table) {
    let expected: Vec<String> = (0..25).map(|i| format!("LINE#{i:03}")).collect();
    // Insert out of order.
    for i in (0..25)
        .rev()
        .step_by(2)
        .chain((0..25).rev().skip(1).step_by(2))
    {
        put_ok(t, &item("PG", &expected[i], json!({ "n": i }))).await;
    }
    put_ok(t, &item("PG", "OTHER#1", json!({}))).await;
    put_ok(t, &item("PG", "ZZZ", json!({}))).await;

    let q = Query::partition(Index::Primary, "PG").prefix("LINE#");
    for size in [1, 7, 25] {
        let (items, pages) = read_all_pages(t, q.clone(), size).await;
        assert_eq!(sks(&items), expected, "forward, page size {size}");
        let full_pages = 25usize.div_ceil(size as usize);
        assert!(
            pages == full_pages || (25 % size == 0 && pages == full_pages + 1),
            "{pages} pages of {size}"
        );
        for (i, it) in items.iter().enumerate() {
            assert_eq!(it.body, json!({ "n": i }));
        }
    }
    // The first page of 7 and its cursor.
    let first = query(t, q.clone().limit(7)).await;
    assert_eq!(sks(&first.items), expected[..7]);
    let cursor = first.next.expect("a cursor after a full page");
    assert_eq!(cursor.pk, "PG");
    assert_eq!(cursor.sk, "LINE#006");
    assert_eq!(cursor.index_sk, None);
    let second = query(t, q.clone().limit(7).after(Some(cursor))).await;
    assert_eq!(sks(&second.items), expected[7..14]);

    let mut reversed = expected.clone();
    reversed.reverse();
    for size in [4, 5] {
        let (items, _) = read_all_pages(t, q.clone().backward(), size).await;
        assert_eq!(sks(&items), reversed, "backward, page size {size}");
    }
    // The whole partition, paging across the prefix boundaries.
    let (items, _) = read_all_pages(t, Query::partition(Index::Primary, "PG"), 6).await;
    let mut whole = expected.clone();
    whole.insert(0, "OTHER#1".into());
    whole.sort();
    whole.push("ZZZ".into());
    assert_eq!(sks(&items), whole);
    assert_eq!(items.len(), 27);
    let unique: HashSet<&str> = items.iter().map(|i| i.sk.as_str()).collect();
    assert_eq!(unique.len(), 27);
}

async fn gsi_queries(t: &dyn Table) {
    // Orders of one shop by date (gsi1), claims by status (gsi2), spread
    // over many table partitions.
    let mut orders = Vec::new();
    for i in 0..9 {
        let it = with_gsi1(
            item(&format!("ORDER#{i}"), "META", json!({ "order": i })),
            "SHOP#7",
            &format!("2026-03-{:02}#ORDER#{i}", 20 - i),
        );
        put_ok(t, &it).await;
        orders.push(it);
    }
    // Another shop and an item in the same table partition without gsi1.
    put_ok(
        t,
        &with_gsi1(item("ORDER#x", "META", json!({})), "SHOP#8", "2026-03-01"),
    )
    .await;
    put_ok(t, &item("ORDER#0", "LINE#1", json!({}))).await;
    // Ascending by gsi1sk: ORDER#8 (03-12) first.
    orders.reverse();

    let page = query(t, Query::partition(Index::Gsi1, "SHOP#7")).await;
    assert_eq!(page.items, orders);
    assert_eq!(page.next, None);

    let mut backwards = orders.clone();
    backwards.reverse();
    let page = query(t, Query::partition(Index::Gsi1, "SHOP#7").backward()).await;
    assert_eq!(page.items, backwards);

    let march_1x = query(
        t,
        Query::partition(Index::Gsi1, "SHOP#7").prefix("2026-03-1"),
    )
    .await;
    assert_eq!(march_1x.items, orders[..8].to_vec());

    for size in [1, 2, 4] {
        let (items, _) = read_all_pages(t, Query::partition(Index::Gsi1, "SHOP#7"), size).await;
        assert_eq!(items, orders, "gsi1 forward, page size {size}");
        let (items, _) =
            read_all_pages(t, Query::partition(Index::Gsi1, "SHOP#7").backward(), size).await;
        assert_eq!(items, backwards, "gsi1 backward, page size {size}");
    }
    let first = query(t, Query::partition(Index::Gsi1, "SHOP#7").limit(2)).await;
    assert_eq!(
        first.next,
        Some(Cursor {
            pk: orders[1].pk.clone(),
            sk: "META".into(),
            index_sk: Some(orders[1].gsi1.clone().unwrap().sk),
        })
    );

    // gsi2: claims by status.
    let mut open = Vec::new();
    for i in 0..5 {
        let it = with_gsi2(
            item(&format!("CLAIM#{i}"), "META", json!({ "claim": i })),
            "STATUS#open",
            &format!("CLAIM#{i}"),
        );
        put_ok(t, &it).await;
        open.push(it);
    }
    put_ok(
        t,
        &with_gsi2(
            item("CLAIM#9", "META", json!({})),
            "STATUS#closed",
            "CLAIM#9",
        ),
    )
    .await;
    let page = query(t, Query::partition(Index::Gsi2, "STATUS#open")).await;
    assert_eq!(page.items, open);
    let (items, _) = read_all_pages(t, Query::partition(Index::Gsi2, "STATUS#open"), 2).await;
    assert_eq!(items, open);
    let (items, _) = read_all_pages(
        t,
        Query::partition(Index::Gsi2, "STATUS#open").backward(),
        3,
    )
    .await;
    let mut open_back = open.clone();
    open_back.reverse();
    assert_eq!(items, open_back);
    let p = query(
        t,
        Query::partition(Index::Gsi2, "STATUS#open").prefix("CLAIM#3"),
    )
    .await;
    assert_eq!(p.items, vec![open[3].clone()]);

    // The index partition keys are not table partition keys and vice versa.
    assert_eq!(
        query(t, Query::partition(Index::Primary, "SHOP#7"))
            .await
            .items,
        vec![]
    );
    assert_eq!(
        query(t, Query::partition(Index::Gsi1, "ORDER#1"))
            .await
            .items,
        vec![]
    );
    assert_eq!(
        query(t, Query::partition(Index::Gsi2, "SHOP#7"))
            .await
            .items,
        vec![]
    );
}

async fn gsi_equal_index_keys_page_without_loss(t: &dyn Table) {
    // Several items share the same index sort key: paging must still visit
    // each exactly once.
    let mut expected = HashSet::new();
    for i in 0..7 {
        let pk = format!("DUP#{i}");
        put_ok(
            t,
            &with_gsi1(item(&pk, "META", json!({})), "SAME", "2026-01-01"),
        )
        .await;
        expected.insert(pk);
    }
    let all = query(t, Query::partition(Index::Gsi1, "SAME")).await;
    assert_eq!(all.items.len(), 7);
    for size in [1, 2, 3] {
        let (items, _) = read_all_pages(t, Query::partition(Index::Gsi1, "SAME"), size).await;
        let seen: Vec<String> = items.iter().map(|i| i.pk.clone()).collect();
        let unique: HashSet<String> = seen.iter().cloned().collect();
        assert_eq!(seen.len(), 7, "page size {size}: {seen:?}");
        assert_eq!(unique, expected, "page size {size}");
    }
}

async fn items_without_index_keys_not_in_indexes(t: &dyn Table) {
    let only1 = with_gsi1(item("N", "1", json!({"which": 1})), "G", "k");
    let only2 = with_gsi2(item("N", "2", json!({"which": 2})), "G", "k");
    let neither = item("N", "3", json!({"which": 0}));
    let both = with_gsi2(
        with_gsi1(item("N", "4", json!({"which": 12})), "G", "l"),
        "G",
        "l",
    );
    for it in [&only1, &only2, &neither, &both] {
        put_ok(t, it).await;
    }
    assert_eq!(
        query(t, Query::partition(Index::Gsi1, "G")).await.items,
        vec![only1.clone(), both.clone()]
    );
    assert_eq!(
        query(t, Query::partition(Index::Gsi2, "G")).await.items,
        vec![only2.clone(), both.clone()]
    );
    assert_eq!(
        query(t, Query::partition(Index::Primary, "G")).await.items,
        vec![]
    );
    assert_eq!(
        sks(&query(t, Query::partition(Index::Primary, "N")).await.items),
        ["1", "2", "3", "4"]
    );

    // Leaving an index by overwriting, and by deleting.
    put_ok(t, &versioned(item("N", "1", json!({"which": 1})), 2)).await;
    t.delete("N", "4", Condition::None).await.unwrap();
    assert_eq!(
        query(t, Query::partition(Index::Gsi1, "G")).await.items,
        vec![]
    );
    assert_eq!(
        query(t, Query::partition(Index::Gsi2, "G")).await.items,
        vec![only2]
    );
}

// ---------------------------------------------------------------- bodies

async fn body_round_trip(t: &dyn Table) {
    let body = json!({
        "string": "plain",
        "empty_string": "",
        "escapes": "quote \" backslash \\ newline \n tab \t",
        "unicode": "Grüße, 東京, Ελλάδα, emoji 🎉🚀, combining é",
        "int": 42,
        "zero": 0,
        "negative": -17,
        "i64_min": i64::MIN,
        "u64_max": u64::MAX,
        "fraction": 0.25,
        "negative_fraction": -1.5,
        "amount": "19.90",
        "tiny_amount": "0.01",
        "precise": "12345678901234567890.123456789",
        "true": true,
        "false": false,
        "null": null,
        "empty_array": [],
        "empty_object": {},
        "array": [1, "two", null, false, 3.5, {"x": [[], [1]]}, ["nested", ["deeper"]]],
        "object": {
            "lines": [
                {"sku": "SKU-1", "qty": 2, "price": "9.95", "gift": false},
                {"sku": "SKU-2", "qty": 1, "price": "0.10", "note": null}
            ],
            "address": {"city": "Zürich", "zip": "8001", "geo": {"lat": "47.37", "lon": "8.54"}},
            "tags": ["a", "b", "a"]
        },
        "key with spaces and ünïcödé": "value",
        "#reserved:chars.in-key": 1
    });
    let it = with_gsi1(item("B", "round-trip", body.clone()), "BG", "1");
    put_ok(t, &it).await;
    let back = get(t, "B", "round-trip").await.unwrap();
    assert_eq!(back.body, body);
    assert_eq!(back, it);
    // The same through a query and an index query.
    assert_eq!(
        query(t, Query::partition(Index::Primary, "B")).await.items,
        vec![it.clone()]
    );
    assert_eq!(
        query(t, Query::partition(Index::Gsi1, "BG")).await.items,
        vec![it.clone()]
    );

    // Unicode in keys.
    let k = item("KÜNDE#東京", "ÖRDER#🎉", json!({"ok": true}));
    put_ok(t, &k).await;
    assert_eq!(get(t, "KÜNDE#東京", "ÖRDER#🎉").await, Some(k.clone()));
    assert_eq!(
        query(
            t,
            Query::partition(Index::Primary, "KÜNDE#東京").prefix("ÖRDER#")
        )
        .await
        .items,
        vec![k]
    );
}

async fn expires_at_round_trip(t: &dyn Table) {
    let mut later = item("X", "later", json!({}));
    later.expires_at = Some(4_102_444_800);
    let never = item("X", "never", json!({}));
    put_ok(t, &later).await;
    put_ok(t, &never).await;
    assert_eq!(
        get(t, "X", "later").await.unwrap().expires_at,
        Some(4_102_444_800)
    );
    assert_eq!(get(t, "X", "never").await.unwrap().expires_at, None);
    assert_eq!(
        query(t, Query::partition(Index::Primary, "X")).await.items,
        vec![later.clone(), never]
    );

    // Moving and removing the expiry.
    later.expires_at = Some(4_102_444_801);
    later.version = 2;
    t.put(later.clone(), Condition::VersionIs(1)).await.unwrap();
    assert_eq!(get(t, "X", "later").await, Some(later.clone()));
    later.expires_at = None;
    later.version = 3;
    t.put(later.clone(), Condition::VersionIs(2)).await.unwrap();
    assert_eq!(get(t, "X", "later").await, Some(later));
}

async fn later_indexes(t: &dyn Table) {
    // gsi3, gsi4 and gsi5 behave as gsi1 and gsi2 do: their own partitions,
    // sort key order both ways, pages that lose nothing.
    for index in [Index::Gsi3, Index::Gsi4, Index::Gsi5] {
        let part = format!("P{index:?}");
        let mut written = Vec::new();
        for n in [5, 1, 4, 2, 3, 7, 6] {
            let it = with_index(
                item(&format!("L{index:?}#{n}"), "X", json!({"n": n})),
                index,
                &part,
                &format!("2026-03-0{n}#{n}"),
            );
            put_ok(t, &it).await;
            written.push(it);
        }
        // Not in this index: another partition, another index, no key.
        put_ok(
            t,
            &with_index(item("L-other", "X", json!({})), index, "OTHER", "1"),
        )
        .await;
        put_ok(t, &with_gsi1(item("L-gsi1", "X", json!({})), &part, "1")).await;
        written.sort_by_key(|i| i.index_key(index).unwrap().sk.clone());
        let page = query(t, Query::partition(index, part.clone())).await;
        assert_eq!(page.items, written, "{index:?} forward");
        assert_eq!(page.next, None);
        for size in [1, 2, 3, 7] {
            let (items, _) = read_all_pages(t, Query::partition(index, part.clone()), size).await;
            assert_eq!(items, written, "{index:?} forward, page size {size}");
            let (items, _) =
                read_all_pages(t, Query::partition(index, part.clone()).backward(), size).await;
            let mut back = written.clone();
            back.reverse();
            assert_eq!(items, back, "{index:?} backward, page size {size}");
        }
        let month = query(t, Query::partition(index, part.clone()).prefix("2026-03-0")).await;
        assert_eq!(month.items.len(), 7, "{index:?} prefix");

        // Rewritten under another partition, the item leaves the first; a
        // key taken away leaves the index.
        let moved = with_index(written[0].clone(), index, "MOVED", "1");
        put_ok(t, &moved).await;
        let mut gone = written[1].clone();
        gone.set_index_key(index, None);
        put_ok(t, &gone).await;
        let page = query(t, Query::partition(index, part.clone())).await;
        assert_eq!(page.items, written[2..].to_vec(), "{index:?} after moves");
        assert_eq!(
            query(t, Query::partition(index, "MOVED")).await.items,
            vec![moved.clone()]
        );
        assert_eq!(get(t, &moved.pk, "X").await, Some(moved));
    }
}

async fn cursor_is_a_position(t: &dyn Table) {
    // A cursor need not name an item: a query goes on after where it
    // would sort (what merges several partitions in one order rely on).
    for n in [1, 3, 5, 7] {
        put_ok(
            t,
            &with_index(
                item(&format!("C#{n}"), "C", json!({"n": n})),
                Index::Gsi3,
                "POS",
                &format!("k{n}"),
            ),
        )
        .await;
    }
    let between = Cursor {
        pk: "C#4".into(),
        sk: "C".into(),
        index_sk: Some("k4".into()),
    };
    let page = query(
        t,
        Query::partition(Index::Gsi3, "POS").after(Some(between.clone())),
    )
    .await;
    assert_eq!(
        page.items.iter().map(|i| i.pk.as_str()).collect::<Vec<_>>(),
        ["C#5", "C#7"]
    );
    let page = query(
        t,
        Query::partition(Index::Gsi3, "POS")
            .backward()
            .after(Some(between)),
    )
    .await;
    assert_eq!(
        page.items.iter().map(|i| i.pk.as_str()).collect::<Vec<_>>(),
        ["C#3", "C#1"]
    );
}

async fn count_partitions(t: &dyn Table) {
    for n in 0..12 {
        let mut it = item("CNT", &format!("{n:02}"), json!({}));
        if n % 3 == 0 {
            it = with_index(it, Index::Gsi3, "CNT3", &format!("{n:02}"));
        }
        put_ok(t, &it).await;
    }
    assert_eq!(t.count(Index::Primary, "CNT").await.unwrap(), 12);
    assert_eq!(t.count(Index::Gsi3, "CNT3").await.unwrap(), 4);
    assert_eq!(t.count(Index::Gsi3, "NONE").await.unwrap(), 0);
    assert_eq!(t.count(Index::Gsi4, "CNT3").await.unwrap(), 0);
    assert_invalid(t.count(Index::Primary, "").await);
}

async fn get_many_in_order(t: &dyn Table) {
    let mut written = Vec::new();
    for n in 0..130 {
        let it = with_gsi1(
            versioned(item(&format!("M#{n}"), "M", json!({"n": n})), n + 1),
            "MG",
            "1",
        );
        put_ok(t, &it).await;
        written.push(it);
    }
    assert_eq!(t.get_many(&[]).await.unwrap(), vec![]);
    // More than one request's worth, missing keys and a key asked twice,
    // answered in the order asked.
    let mut keys: Vec<(String, String)> = (0..130)
        .rev()
        .map(|n| (format!("M#{n}"), "M".to_owned()))
        .collect();
    keys.insert(3, ("M#missing".into(), "M".into()));
    keys.push(("M#7".into(), "other-sk".into()));
    keys.push(("M#7".into(), "M".into()));
    let got = t.get_many(&keys).await.unwrap();
    assert_eq!(got.len(), keys.len());
    for (k, g) in keys.iter().zip(&got) {
        let want = written.iter().find(|i| (&i.pk, &i.sk) == (&k.0, &k.1));
        assert_eq!(g.as_ref(), want, "{k:?}");
    }
    assert_invalid(t.get_many(&[("".into(), "M".into())]).await);
}

// ---------------------------------------------------------------- both engines

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let table = aftersales_tests::sqlite_table();
                    super::$name(&table).await;
                }
            )*
        }
        // A database file: writes on one connection, reads on the others.
        mod sqlite_file {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let dir = tempfile::tempdir().unwrap();
                    let table = aftersales::store::sqlite::SqliteTable::open(&dir.path().join("t.db")).unwrap();
                    super::$name(&table).await;
                }
            )*
        }
        mod dynamodb {
            $(
                #[tokio::test]
                async fn $name() {
                    let table = aftersales_tests::dynamo_table().await;
                    super::$name(&table).await;
                }
            )*
        }
    };
}

conformance!(
    get_missing_and_present,
    put_not_exists_twice,
    put_version_is,
    put_exists,
    put_replaces_whole_item,
    concurrent_writers_one_wins,
    delete_with_conditions,
    transaction_all_or_nothing,
    transaction_commits_everything,
    transaction_check_op,
    transaction_invalid_requests,
    transaction_of_max_size,
    invalid_items_rejected,
    query_prefix_and_order,
    query_paging,
    gsi_queries,
    gsi_equal_index_keys_page_without_loss,
    items_without_index_keys_not_in_indexes,
    body_round_trip,
    expires_at_round_trip,
    later_indexes,
    cursor_is_a_position,
    count_partitions,
    get_many_in_order,
);

// ---------------------------------------------------------------- SQLite only

/// Many writers at once on SQLite, where writes that wait for the connection
/// are committed together (a group commit): each write keeps its own
/// outcome. Read-modify-write increments of one counter lose none
/// (a lost update would leave the counter short), a transaction whose
/// check fails writes nothing even when it shares the commit with ones that
/// succeed, and deletes with conditions hold.
async fn group_commit_keeps_each_outcome(t: std::sync::Arc<SqliteTable>) {
    const TASKS: u64 = 16;
    const EACH: u64 = 40;
    put_ok(&*t, &item("COUNTER", "1", json!({"n": 0}))).await;
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..TASKS {
        let t = t.clone();
        tasks.spawn(async move {
            let mut conflicts = 0u64;
            for i in 0..EACH {
                // Increment: read, then write if nobody wrote between.
                loop {
                    let current = t.get("COUNTER", "1").await.unwrap().unwrap();
                    let n = current.body.to_value().unwrap()["n"].as_u64().unwrap();
                    let ops = vec![
                        WriteOp::Put {
                            item: versioned(
                                item("COUNTER", "1", json!({ "n": n + 1 })),
                                current.version + 1,
                            ),
                            condition: Condition::VersionIs(current.version),
                        },
                        WriteOp::Put {
                            item: item("LOG", &format!("{task}-{i}"), json!({ "n": n + 1 })),
                            condition: Condition::NotExists,
                        },
                    ];
                    match t.transact(ops).await {
                        Ok(()) => break,
                        Err(StoreError::TransactionCancelled { failed }) => {
                            assert_eq!(failed, vec![0], "only the counter may conflict");
                            conflicts += 1;
                        }
                        Err(e) => panic!("increment failed: {e}"),
                    }
                }
                // A transaction that must fail whole.
                let doomed = vec![
                    WriteOp::Put {
                        item: item("DOOMED", &format!("{task}-{i}"), json!({})),
                        condition: Condition::NotExists,
                    },
                    WriteOp::Check {
                        pk: "MISSING".into(),
                        sk: "1".into(),
                        condition: Condition::Exists,
                    },
                ];
                assert_cancelled(t.transact(doomed).await, &[1]);
                // A put, a failing put, a delete.
                let key = format!("{task}-{i}");
                put_ok(&*t, &item("TEMP", &key, json!({}))).await;
                assert_condition_failed(
                    t.put(item("TEMP", &key, json!({})), Condition::NotExists)
                        .await,
                    "TEMP",
                    &key,
                );
                t.delete("TEMP", &key, Condition::Exists).await.unwrap();
            }
            conflicts
        });
    }
    let mut conflicts = 0;
    while let Some(r) = tasks.join_next().await {
        conflicts += r.unwrap();
    }
    let counter = get(&*t, "COUNTER", "1").await.unwrap();
    assert_eq!(
        counter.body,
        json!({ "n": TASKS * EACH }),
        "{conflicts} conflicts retried"
    );
    assert_eq!(counter.version, 1 + TASKS * EACH);
    let logged = read_all_pages(&*t, Query::partition(Index::Primary, "LOG"), 100)
        .await
        .0;
    assert_eq!(logged.len() as u64, TASKS * EACH);
    // Every increment saw a different value: no two read the same one and won.
    let values: HashSet<u64> = logged
        .iter()
        .map(|i| i.body.to_value().unwrap()["n"].as_u64().unwrap())
        .collect();
    assert_eq!(values.len() as u64, TASKS * EACH);
    assert!(query(&*t, Query::partition(Index::Primary, "DOOMED"))
        .await
        .items
        .is_empty());
    assert!(query(&*t, Query::partition(Index::Primary, "TEMP"))
        .await
        .items
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_file_group_commit_keeps_each_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let table = SqliteTable::open(&dir.path().join("t.db")).unwrap();
    group_commit_keeps_each_outcome(std::sync::Arc::new(table)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_memory_group_commit_keeps_each_outcome() {
    let table = SqliteTable::in_memory().unwrap();
    group_commit_keeps_each_outcome(std::sync::Arc::new(table)).await;
}

#[tokio::test]
async fn sqlite_file_persists_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("aftersales.db");
    let mut it = with_gsi1(item("F", "1", json!({"kept": "yes"})), "FG", "1");
    it.expires_at = Some(4_102_444_800);
    {
        let t = SqliteTable::open(&path).unwrap();
        t.put(it.clone(), Condition::NotExists).await.unwrap();
    }
    let t = SqliteTable::open(&path).unwrap();
    assert_eq!(t.get("F", "1").await.unwrap(), Some(it.clone()));
    assert_eq!(
        t.query(Query::partition(Index::Gsi1, "FG"))
            .await
            .unwrap()
            .items,
        vec![it]
    );
    assert!(path.with_extension("db-wal").exists(), "WAL journal in use");
}
