//! The Kuaidi100 adapter against a local double of Kuaidi100 that speaks
//! its protocol: it checks each query's MD5 signature with its own customer
//! id and key (generated here, per test), refuses a bad one with 503 the way
//! Kuaidi100 does, answers 500 for numbers it has no record of, keeps
//! subscriptions (callback URL and salt) and pushes signed snapshots to
//! them. The pushes land on a second local server standing in for our
//! webhook, which verifies them with `verify_push` and merges the
//! snapshots. The double's signing is written here, independently of the
//! adapter's.

use aftersales::couriers::kuaidi100::{Kuaidi100, Kuaidi100Config};
use aftersales::couriers::{
    push_nack, verify_push, CourierError, CourierTracker, PushStatus, PUSH_ACK,
};
use aftersales::domain::tracking::{
    validate, Carrier, CourierState, TrackingNumber, TrackingSnapshot,
};
use axum::body::Bytes;
use axum::extract::State;
use chrono::{DateTime, FixedOffset, TimeZone, Utc};
use md5::{Digest, Md5};
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

const YTO: &str = "YT1234567890123";

fn random_hex(bytes: usize) -> String {
    // uuid v4 is random enough for test credentials.
    (0..bytes.div_ceil(16))
        .map(|_| uuid::Uuid::new_v4().simple().to_string())
        .collect::<String>()[..bytes * 2]
        .to_string()
}

fn md5_upper(text: &str) -> String {
    hex::encode_upper(Md5::digest(text.as_bytes()))
}

fn china_text(at: DateTime<Utc>) -> String {
    at.with_timezone(&FixedOffset::east_opt(8 * 3600).expect("+8"))
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

fn at(day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, day, hour, 0, 0)
        .single()
        .expect("time")
}

fn form(body: &[u8]) -> HashMap<String, String> {
    form_urlencoded::parse(body).into_owned().collect()
}

// ---------------------------------------------------------------------------
// The Kuaidi100 double

#[derive(Clone)]
struct Parcel {
    com: String,
    state: &'static str,
    ischeck: bool,
    /// Oldest first.
    events: Vec<(DateTime<Utc>, String, String)>,
}

#[derive(Clone, Debug)]
struct Subscription {
    company: String,
    number: String,
    callbackurl: String,
    salt: String,
    resultv2: String,
}

#[derive(Default)]
struct Books {
    parcels: HashMap<String, Parcel>,
    subscriptions: Vec<Subscription>,
    /// Failure codes to answer the next calls with.
    fail_next: VecDeque<(&'static str, &'static str)>,
    queries: Vec<Value>,
    bad_signatures: u32,
}

struct Double {
    customer: String,
    key: String,
    books: Mutex<Books>,
}

impl Double {
    fn books(&self) -> std::sync::MutexGuard<'_, Books> {
        self.books.lock().expect("books")
    }

    fn last_result(&self, number: &str, order_asc: bool) -> Option<Value> {
        let books = self.books();
        let p = books.parcels.get(number)?;
        let mut data: Vec<Value> = p
            .events
            .iter()
            .map(|(t, context, area)| {
                let t = china_text(*t);
                json!({"time": t, "ftime": t, "context": context, "areaName": area,
                       "areaCode": "CN440300000000", "status": "在途"})
            })
            .collect();
        if !order_asc {
            data.reverse();
        }
        Some(json!({
            "message": "ok", "nu": number, "ischeck": if p.ischeck { "1" } else { "0" },
            "condition": "00", "com": p.com, "status": "200", "state": p.state, "data": data,
        }))
    }

    /// The form Kuaidi100 would post to the parcel's subscribers now:
    /// (callback URL, body), signed with each subscription's salt.
    fn push_bodies(&self, number: &str) -> Vec<(String, Vec<u8>)> {
        let Some(last) = self.last_result(number, false) else {
            return Vec::new();
        };
        let subs: Vec<Subscription> = self
            .books()
            .subscriptions
            .iter()
            .filter(|s| s.number == number)
            .cloned()
            .collect();
        subs.into_iter()
            .map(|s| {
                let status = if last["ischeck"] == "1" {
                    "shutdown"
                } else {
                    "polling"
                };
                let param = json!({
                    "status": status, "billstatus": "got", "message": "",
                    "autoCheck": "0", "comOld": "", "comNew": "", "lastResult": last,
                })
                .to_string();
                let sign = md5_upper(&format!("{param}{}", s.salt));
                let body = form_urlencoded::Serializer::new(String::new())
                    .append_pair("param", &param)
                    .append_pair("sign", &sign)
                    .finish();
                (s.callbackurl, body.into_bytes())
            })
            .collect()
    }
}

fn failure(code: &str, message: &str) -> String {
    json!({"result": false, "returnCode": code, "message": message}).to_string()
}

async fn query(State(d): State<Arc<Double>>, body: Bytes) -> String {
    let f = form(&body);
    if let Some((code, message)) = d.books().fail_next.pop_front() {
        return failure(code, message);
    }
    let (Some(customer), Some(sign), Some(param)) =
        (f.get("customer"), f.get("sign"), f.get("param"))
    else {
        return failure("400", "提交的数据不完整");
    };
    let expected = md5_upper(&format!("{param}{}{}", d.key, d.customer));
    if customer != &d.customer || sign != &expected {
        d.books().bad_signatures += 1;
        return failure("503", "验证签名失败");
    }
    let Ok(p) = serde_json::from_str::<Value>(param) else {
        return failure("400", "提交的数据不完整");
    };
    d.books().queries.push(p.clone());
    let (com, num) = (
        p["com"].as_str().unwrap_or(""),
        p["num"].as_str().unwrap_or(""),
    );
    if com == "shunfeng" && p["phone"].as_str().unwrap_or("").len() < 4 {
        return failure("408", "您提交的手机号码后四位不正确");
    }
    let known = d.books().parcels.get(num).is_some_and(|x| x.com == com);
    if !known {
        return failure("500", "查询无结果，请隔段时间再查");
    }
    d.last_result(num, p["order"] == "asc")
        .map(|v| v.to_string())
        .unwrap_or_else(|| failure("500", "查询无结果，请隔段时间再查"))
}

async fn subscribe(State(d): State<Arc<Double>>, body: Bytes) -> String {
    let f = form(&body);
    if let Some((code, message)) = d.books().fail_next.pop_front() {
        return failure(code, message);
    }
    let Some(p) = f
        .get("param")
        .filter(|_| f.get("schema").map(String::as_str) == Some("json"))
        .and_then(|p| serde_json::from_str::<Value>(p).ok())
    else {
        return failure("700", "订阅方的订阅数据存在错误");
    };
    if p["key"] != d.key.as_str() {
        return failure("600", "您不是合法的订阅者");
    }
    let s = Subscription {
        company: p["company"].as_str().unwrap_or("").into(),
        number: p["number"].as_str().unwrap_or("").into(),
        callbackurl: p["parameters"]["callbackurl"].as_str().unwrap_or("").into(),
        salt: p["parameters"]["salt"].as_str().unwrap_or("").into(),
        resultv2: p["parameters"]["resultv2"].as_str().unwrap_or("").into(),
    };
    let mut books = d.books();
    if books
        .subscriptions
        .iter()
        .any(|x| x.number == s.number && x.company == s.company)
    {
        return failure("501", "重复订阅");
    }
    books.subscriptions.push(s);
    json!({"result": true, "returnCode": "200", "message": "提交成功"}).to_string()
}

async fn start_double() -> (Arc<Double>, String) {
    let d = Arc::new(Double {
        customer: random_hex(16).to_uppercase(),
        key: random_hex(12),
        books: Mutex::new(Books::default()),
    });
    let app = axum::Router::new()
        .route("/poll/query.do", axum::routing::post(query))
        .route("/poll", axum::routing::post(subscribe))
        .with_state(d.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (d, url)
}

// ---------------------------------------------------------------------------
// Our webhook, standing in for the router's

#[derive(Default)]
struct Shop {
    salt: String,
    snapshot: Mutex<TrackingSnapshot>,
    /// Per accepted push: whether it changed the snapshot.
    changes: Mutex<Vec<bool>>,
    refused: Mutex<u32>,
    statuses: Mutex<Vec<PushStatus>>,
}

async fn callback(State(shop): State<Arc<Shop>>, body: Bytes) -> &'static str {
    match verify_push(&body, &shop.salt) {
        Ok(notice) => {
            let changed = shop
                .snapshot
                .lock()
                .expect("snapshot")
                .merge(notice.snapshot);
            shop.changes.lock().expect("changes").push(changed);
            shop.statuses.lock().expect("statuses").push(notice.status);
            PUSH_ACK
        }
        Err(e) => {
            *shop.refused.lock().expect("refused") += 1;
            push_nack(&e)
        }
    }
}

async fn start_shop(salt: &str) -> (Arc<Shop>, String) {
    let shop = Arc::new(Shop {
        salt: salt.to_string(),
        ..Shop::default()
    });
    let app = axum::Router::new()
        .route("/webhooks/kuaidi100", axum::routing::post(callback))
        .with_state(shop.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!(
        "http://{}/webhooks/kuaidi100",
        listener.local_addr().expect("addr")
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    (shop, url)
}

/// Posts a push the way Kuaidi100 does; returns its reply.
async fn post(url: &str, body: Vec<u8>) -> Value {
    let text = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("post")
        .text()
        .await
        .expect("text");
    serde_json::from_str(&text).expect("json reply")
}

// ---------------------------------------------------------------------------

struct Setup {
    double: Arc<Double>,
    config: Kuaidi100Config,
    client: Kuaidi100,
}

async fn setup() -> Setup {
    let (double, base_url) = start_double().await;
    let config = Kuaidi100Config {
        customer: double.customer.clone(),
        key: double.key.clone(),
        salt: random_hex(8),
        base_url,
        callback_url: None,
    };
    let client = Kuaidi100::new(&config).expect("client");
    Setup {
        double,
        config,
        client,
    }
}

fn yto() -> TrackingNumber {
    validate(Carrier::Yuantong, YTO).expect("number")
}

fn moving_parcel(d: &Double) {
    d.books().parcels.insert(
        YTO.into(),
        Parcel {
            com: "yuantong".into(),
            state: "0",
            ischeck: false,
            events: vec![
                (at(1, 12), "【杭州市】已揽收".into(), "浙江,杭州市".into()),
                (
                    at(2, 1),
                    "【杭州市】快件已发往 深圳".into(),
                    "浙江,杭州市".into(),
                ),
            ],
        },
    );
}

fn deliver(d: &Double) {
    let mut books = d.books();
    let p = books.parcels.get_mut(YTO).expect("parcel");
    p.events.push((
        at(3, 6),
        "【深圳市】快件已签收，签收人：售后仓".into(),
        "广东,深圳市".into(),
    ));
    p.state = "3";
    p.ischeck = true;
}

#[tokio::test]
async fn query_of_a_moving_parcel() {
    let s = setup().await;
    moving_parcel(&s.double);
    let snap = s
        .client
        .query(Carrier::Yuantong, &yto(), None)
        .await
        .expect("snapshot");
    assert_eq!(snap.state, CourierState::InTransit);
    assert!(!snap.signed);
    assert_eq!(snap.events.len(), 2);
    // Newest first, China time read as UTC+8.
    assert_eq!(snap.events[0].at, at(2, 1));
    assert_eq!(snap.events[0].context, "【杭州市】快件已发往 深圳");
    assert_eq!(snap.events[1].at, at(1, 12));
    assert_eq!(snap.events[1].area.as_deref(), Some("浙江,杭州市"));
    assert_eq!(snap.delivered_to, None);

    deliver(&s.double);
    let done = s
        .client
        .query(Carrier::Yuantong, &yto(), Some("1234"))
        .await
        .expect("snapshot");
    assert_eq!(done.state, CourierState::Delivered);
    assert!(done.signed);
    assert_eq!(done.delivered_to.as_deref(), Some("广东,深圳市"));
    let mut merged = snap.clone();
    assert!(merged.merge(done.clone()));
    assert!(!merged.merge(snap));

    let books = s.double.books();
    assert_eq!(books.bad_signatures, 0);
    assert_eq!(
        books.queries[1],
        json!({"com": "yuantong", "num": YTO, "phone": "1234", "resultv2": "1",
               "show": "0", "order": "desc"})
    );
}

#[tokio::test]
async fn sf_needs_the_phone() {
    let s = setup().await;
    let sf = validate(Carrier::Shunfeng, "SF1234567890123").expect("number");
    s.double.books().parcels.insert(
        sf.as_str().into(),
        Parcel {
            com: "shunfeng".into(),
            state: "1",
            ischeck: false,
            events: vec![(at(1, 3), "顺丰速运 已收取快件".into(), "".into())],
        },
    );
    let e = s.client.query(Carrier::Shunfeng, &sf, None).await;
    assert!(
        matches!(e, Err(CourierError::Permanent(ref m)) if m.contains("408")),
        "{e:?}"
    );
    let snap = s
        .client
        .query(Carrier::Shunfeng, &sf, Some("5678"))
        .await
        .expect("snapshot");
    assert_eq!(snap.state, CourierState::PickedUp);
    assert_eq!(snap.events[0].area, None);
}

#[tokio::test]
async fn unknown_number_is_not_found() {
    let s = setup().await;
    let e = s.client.query(Carrier::Yuantong, &yto(), None).await;
    assert!(matches!(e, Err(CourierError::NotFound(_))), "{e:?}");
    // Known number, other carrier: also no record.
    moving_parcel(&s.double);
    let zto = validate(Carrier::Zhongtong, "73123456789012").expect("number");
    let e = s.client.query(Carrier::Zhongtong, &zto, None).await;
    assert!(matches!(e, Err(CourierError::NotFound(_))), "{e:?}");
}

#[tokio::test]
async fn a_wrong_key_is_permanent() {
    let s = setup().await;
    moving_parcel(&s.double);
    let mut config = s.config.clone();
    config.key = random_hex(12);
    let wrong = Kuaidi100::new(&config).expect("client");
    let e = wrong.query(Carrier::Yuantong, &yto(), None).await;
    assert!(
        matches!(e, Err(CourierError::Permanent(ref m)) if m.contains("503")),
        "{e:?}"
    );
    assert_eq!(s.double.books().bad_signatures, 1);
    // A wrong key cannot subscribe either.
    let e = wrong
        .subscribe(Carrier::Yuantong, &yto(), "https://shop.example/k", None)
        .await;
    assert!(matches!(e, Err(CourierError::Permanent(_))), "{e:?}");
}

#[tokio::test]
async fn busy_is_transient_and_the_retry_works() {
    let s = setup().await;
    moving_parcel(&s.double);
    s.double
        .books()
        .fail_next
        .extend([("502", "服务器繁忙"), ("501", "服务器错误")]);
    for _ in 0..2 {
        let e = s.client.query(Carrier::Yuantong, &yto(), None).await;
        assert!(matches!(e, Err(CourierError::Transient(_))), "{e:?}");
    }
    assert!(s
        .client
        .query(Carrier::Yuantong, &yto(), None)
        .await
        .is_ok());
    // Nobody listening: transient too.
    let mut config = s.config.clone();
    config.base_url = "http://127.0.0.1:9".into();
    let nowhere = Kuaidi100::new(&config).expect("client");
    let e = nowhere.query(Carrier::Yuantong, &yto(), None).await;
    assert!(matches!(e, Err(CourierError::Transient(_))), "{e:?}");
}

#[tokio::test]
async fn subscription_then_signed_pushes() {
    let s = setup().await;
    moving_parcel(&s.double);
    let (shop, callback_url) = start_shop(&s.config.salt).await;
    s.client
        .subscribe(Carrier::Yuantong, &yto(), &callback_url, None)
        .await
        .expect("subscribed");
    // Subscribing again is fine (Kuaidi100 answers 501 duplicate).
    s.client
        .subscribe(Carrier::Yuantong, &yto(), &callback_url, None)
        .await
        .expect("subscribed again");
    {
        let books = s.double.books();
        assert_eq!(books.subscriptions.len(), 1);
        let sub = &books.subscriptions[0];
        assert_eq!(sub.company, "yuantong");
        assert_eq!(sub.number, YTO);
        assert_eq!(sub.callbackurl, callback_url);
        assert_eq!(sub.salt, s.config.salt);
        assert_eq!(sub.resultv2, "1");
    }

    for (url, body) in s.double.push_bodies(YTO) {
        let reply = post(&url, body).await;
        assert_eq!(reply, serde_json::from_str::<Value>(PUSH_ACK).expect("ack"));
    }
    deliver(&s.double);
    for (url, body) in s.double.push_bodies(YTO) {
        assert_eq!(post(&url, body).await["result"], true);
    }
    assert_eq!(*shop.changes.lock().expect("changes"), [true, true]);
    assert_eq!(
        *shop.statuses.lock().expect("statuses"),
        [PushStatus::Polling, PushStatus::Shutdown]
    );
    let snap = shop.snapshot.lock().expect("snapshot").clone();
    assert_eq!(snap.state, CourierState::Delivered);
    assert_eq!(snap.events.len(), 3);
    assert_eq!(snap.events[0].at, at(3, 6));
    // What was pushed is what a query says.
    let queried = s
        .client
        .query(Carrier::Yuantong, &yto(), None)
        .await
        .expect("query");
    assert_eq!(snap, queried);
}

#[tokio::test]
async fn tampered_pushes_are_refused() {
    let s = setup().await;
    moving_parcel(&s.double);
    let (shop, callback_url) = start_shop(&s.config.salt).await;
    s.client
        .subscribe(Carrier::Yuantong, &yto(), &callback_url, None)
        .await
        .expect("subscribed");
    let (url, body) = s.double.push_bodies(YTO).pop().expect("push");

    // The body changed after signing: "in transit" turned into "signed for".
    let mut f = form(&body);
    let param = f
        .get("param")
        .expect("param")
        .replace(r#""ischeck":"0""#, r#""ischeck":"1""#);
    assert_ne!(Some(&param), f.get("param"));
    f.insert("param".into(), param);
    let tampered = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&f)
        .finish()
        .into_bytes();
    let reply = post(&url, tampered).await;
    assert_eq!(reply["result"], false);

    // Signed with another salt (someone who knows the URL, not ours).
    let param = f.get("param").expect("param").clone();
    let forged = form_urlencoded::Serializer::new(String::new())
        .append_pair("param", &param)
        .append_pair("sign", &md5_upper(&format!("{param}not-our-salt")))
        .finish()
        .into_bytes();
    assert_eq!(post(&url, forged).await["result"], false);

    // Unsigned.
    let unsigned = form_urlencoded::Serializer::new(String::new())
        .append_pair("param", &param)
        .finish()
        .into_bytes();
    assert_eq!(post(&url, unsigned).await["result"], false);

    assert_eq!(*shop.refused.lock().expect("refused"), 3);
    assert_eq!(
        *shop.snapshot.lock().expect("snapshot"),
        TrackingSnapshot::empty()
    );
    // The genuine one still goes through.
    assert_eq!(post(&url, body).await["result"], true);
}

#[tokio::test]
async fn duplicate_and_out_of_order_pushes_merge_once() {
    let s = setup().await;
    moving_parcel(&s.double);
    let (shop, callback_url) = start_shop(&s.config.salt).await;
    s.client
        .subscribe(Carrier::Yuantong, &yto(), &callback_url, None)
        .await
        .expect("subscribed");
    // Three moments of the parcel, each pushed as Kuaidi100 would.
    let first = s.double.push_bodies(YTO).pop().expect("push");
    s.double
        .books()
        .parcels
        .get_mut(YTO)
        .expect("parcel")
        .events
        .push((
            at(2, 20),
            "【深圳市】快件已到达 深圳转运中心".into(),
            "广东,深圳市".into(),
        ));
    let second = s.double.push_bodies(YTO).pop().expect("push");
    deliver(&s.double);
    let third = s.double.push_bodies(YTO).pop().expect("push");

    // Kuaidi100 retries and reorders: the newest first, then older ones,
    // then the newest again.
    for (url, body) in [&third, &first, &third, &second, &first] {
        assert_eq!(post(url, body.clone()).await["result"], true);
    }
    assert_eq!(
        *shop.changes.lock().expect("changes"),
        [true, false, false, false, false]
    );
    let snap = shop.snapshot.lock().expect("snapshot").clone();
    let expected = verify_push(&third.1, &s.config.salt)
        .expect("verifies")
        .snapshot;
    assert_eq!(snap, expected);
    assert_eq!(snap.state, CourierState::Delivered);
    assert_eq!(snap.events.len(), 4);
}
