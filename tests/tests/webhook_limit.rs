//! A shop's 20 webhook endpoints hold when creates race (issue 17, point
//! 2), on both engines. The table here holds each create's first read until
//! every create has read, so all of them see the shop before any writes:
//! the race at its worst, every time. A check of the endpoints followed by
//! a write would make all 30; the count item written in the endpoint's
//! transaction makes exactly 20 and refuses the rest, and the count stays
//! true through deletes.

use aftersales::hooks::{self, HookError, NewEndpoint, MAX_ENDPOINTS_PER_SHOP};
use aftersales::store::{Condition, Index, Item, Page, Query, StoreError, Table, WriteOp};
use aftersales_tests::engine_table;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::Barrier;

const RACERS: usize = 30;

/// Holds the first `RACERS` reads, once made, until all of them are made.
struct Gate {
    inner: Arc<dyn Table>,
    reads: AtomicUsize,
    barrier: Barrier,
}

impl Gate {
    /// Waits, after reading, until the first `RACERS` reads are all done.
    async fn held<T>(&self, read: T) -> T {
        if self.reads.fetch_add(1, Ordering::SeqCst) < RACERS {
            self.barrier.wait().await;
        }
        read
    }
}

#[async_trait::async_trait]
impl Table for Gate {
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        self.held(self.inner.get(pk, sk).await).await
    }
    async fn put(&self, item: Item, condition: Condition) -> Result<(), StoreError> {
        self.inner.put(item, condition).await
    }
    async fn delete(&self, pk: &str, sk: &str, condition: Condition) -> Result<(), StoreError> {
        self.inner.delete(pk, sk, condition).await
    }
    async fn transact(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        self.inner.transact(ops).await
    }
    async fn query(&self, query: Query) -> Result<Page, StoreError> {
        self.held(self.inner.query(query).await).await
    }
    async fn get_many(&self, keys: &[(String, String)]) -> Result<Vec<Option<Item>>, StoreError> {
        self.held(self.inner.get_many(keys).await).await
    }
    async fn count(&self, index: Index, pk: &str) -> Result<u64, StoreError> {
        self.held(self.inner.count(index, pk).await).await
    }
}

fn wanted(i: usize) -> NewEndpoint {
    NewEndpoint {
        url: format!("https://hooks.example.com/in/{i}"),
        event_types: vec!["refund.sent".into()],
        description: None,
    }
}

async fn racing_creates_make_exactly_the_limit(engine: &str) {
    let gate = Arc::new(Gate {
        inner: engine_table(engine).await,
        reads: AtomicUsize::new(0),
        barrier: Barrier::new(RACERS),
    });
    let now = chrono::Utc::now();
    let tasks: Vec<_> = (0..RACERS)
        .map(|i| {
            let gate = gate.clone();
            tokio::spawn(async move { hooks::create(&*gate, None, "shop-1", wanted(i), now).await })
        })
        .collect();
    let (mut made, mut refused) = (Vec::new(), 0);
    for t in tasks {
        match t.await.expect("a create") {
            Ok((view, _)) => made.push(view.endpoint_id),
            Err(HookError::Invalid {
                code: "too_many_endpoints",
                ..
            }) => refused += 1,
            Err(e) => panic!("{engine}: a racing create failed: {e:?}"),
        }
    }
    assert_eq!(
        (made.len(), refused),
        (MAX_ENDPOINTS_PER_SHOP, RACERS - MAX_ENDPOINTS_PER_SHOP),
        "{engine}"
    );
    let t: &dyn Table = &*gate;
    assert_eq!(
        hooks::list(t, "shop-1").await.unwrap().len(),
        MAX_ENDPOINTS_PER_SHOP,
        "{engine}"
    );

    // A delete makes room for one more, and only one.
    hooks::delete(t, "shop-1", &made[0]).await.unwrap();
    assert!(matches!(
        hooks::delete(t, "shop-1", &made[0]).await,
        Err(HookError::NotFound(_))
    ));
    hooks::create(t, None, "shop-1", wanted(RACERS), now)
        .await
        .expect("room for one");
    assert!(matches!(
        hooks::create(t, None, "shop-1", wanted(RACERS + 1), now).await,
        Err(HookError::Invalid {
            code: "too_many_endpoints",
            ..
        })
    ));
    // Another shop has its own 20.
    hooks::create(t, None, "shop-2", wanted(0), now)
        .await
        .expect("another shop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_creates_make_exactly_the_limit_on_sqlite() {
    racing_creates_make_exactly_the_limit("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_creates_make_exactly_the_limit_on_dynamodb() {
    racing_creates_make_exactly_the_limit("dynamodb").await;
}
