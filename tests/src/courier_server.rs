//! A local Kuaidi100 for tests, speaking its protocol on a loopback port:
//!
//! - `POST /poll/query.do` (form `customer`, `sign`, `param`): the MD5
//!   signature `UPPER(MD5(param + key + customer))` is checked with the
//!   credentials this server made up when it started (a bad one answers
//!   503 "验证签名失败", as Kuaidi100 does); SF without the phone's last
//!   four digits is 408; a number it has no parcel for is 500 "查询无结果";
//! - `POST /poll` (form `schema=json`, `param` with the key, callback URL and
//!   salt): records the subscription; a second one for the same parcel is
//!   501 "重复订阅"; a wrong key is 600;
//! - pushes: [`CourierServer::push`] posts a parcel's record to each of its
//!   subscribers' callback URLs as Kuaidi100 does (form `param`, `sign =
//!   UPPER(MD5(param + salt))` with that subscription's salt).
//!
//! A test sets what a parcel looks like ([`Parcel`]) and decides when it is
//! pushed. The wire format is written here, independently of the adapter's
//! (the same approach as `shared/tests/kuaidi100.rs`), so the adapter is
//! checked against the protocol, not against itself.

use aftersales::couriers::kuaidi100::{Kuaidi100, Kuaidi100Config};
use axum::body::Bytes;
use axum::extract::State;
use chrono::{DateTime, FixedOffset, Utc};
use md5::{Digest, Md5};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// One line of a parcel's history.
#[derive(Debug, Clone)]
pub struct ParcelEvent {
    pub at: DateTime<Utc>,
    pub context: String,
    /// Kuaidi100 `areaName` ("广东,深圳市"); empty when the courier gives none.
    pub area: String,
}

/// A parcel as the courier reports it.
#[derive(Debug, Clone)]
pub struct Parcel {
    /// The carrier code (`yuantong`, `zhongtong`, ...).
    pub com: String,
    /// Kuaidi100's `state` code: 0 in transit, 1 picked up, 3 delivered,
    /// 5 out for delivery, 6 returning, 14 refused...
    pub state: String,
    /// `ischeck`: signed for.
    pub ischeck: bool,
    /// Oldest first.
    pub events: Vec<ParcelEvent>,
}

impl Parcel {
    /// Picked up at `at` in `area`.
    pub fn picked_up(com: &str, at: DateTime<Utc>, area: &str) -> Parcel {
        Parcel {
            com: com.into(),
            state: "1".into(),
            ischeck: false,
            events: vec![ParcelEvent {
                at,
                context: format!("【{area}】已揽收"),
                area: area.into(),
            }],
        }
    }

    /// One more scan, and the parcel's state after it.
    pub fn scan(mut self, at: DateTime<Utc>, context: &str, area: &str, state: &str) -> Parcel {
        self.events.push(ParcelEvent {
            at,
            context: context.into(),
            area: area.into(),
        });
        self.state = state.into();
        self
    }

    /// Delivered and signed for at `at` in `area`.
    pub fn delivered(self, at: DateTime<Utc>, area: &str) -> Parcel {
        let mut p = self.scan(at, &format!("【{area}】已签收"), area, "3");
        p.ischeck = true;
        p
    }
}

/// A subscription as the server recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub company: String,
    pub number: String,
    pub callback_url: String,
    pub salt: String,
    pub phone: String,
}

#[derive(Default)]
struct Books {
    parcels: HashMap<(String, String), Parcel>,
    subscriptions: Vec<Subscription>,
    /// Every subscription request that carried the right key, duplicates
    /// included.
    subscribe_calls: Vec<(String, String)>,
    /// Every query with a good signature: (com, num).
    queries: Vec<(String, String)>,
    bad_signatures: u32,
}

struct Inner {
    customer: String,
    key: String,
    books: Mutex<Books>,
}

/// The server; dropped with the test's runtime.
#[derive(Clone)]
pub struct CourierServer {
    inner: Arc<Inner>,
    /// `http://127.0.0.1:PORT`, the adapter's `base_url`.
    pub base_url: String,
    http: reqwest::Client,
}

fn random_hex(bytes: usize) -> String {
    (0..bytes.div_ceil(16))
        .map(|_| uuid::Uuid::new_v4().simple().to_string())
        .collect::<String>()[..bytes * 2]
        .to_string()
}

/// A fresh random push salt, for the configuration under test.
pub fn random_salt() -> String {
    random_hex(12)
}

fn md5_upper(parts: &[&str]) -> String {
    let mut h = Md5::new();
    for p in parts {
        h.update(p.as_bytes());
    }
    hex::encode_upper(h.finalize())
}

fn china_text(at: DateTime<Utc>) -> String {
    let cst = FixedOffset::east_opt(8 * 3600).expect("UTC+8");
    at.with_timezone(&cst)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

fn form(body: &[u8]) -> HashMap<String, String> {
    form_urlencoded::parse(body).into_owned().collect()
}

fn failure(code: &str, message: &str) -> String {
    json!({"result": false, "returnCode": code, "message": message}).to_string()
}

/// The record Kuaidi100 answers a query with and pushes as `lastResult`.
fn record(number: &str, p: &Parcel, ascending: bool) -> Value {
    let mut data: Vec<Value> = p
        .events
        .iter()
        .map(|e| {
            let t = china_text(e.at);
            json!({"time": t, "ftime": t, "context": e.context, "areaName": e.area,
                   "areaCode": "", "status": ""})
        })
        .collect();
    if !ascending {
        data.reverse();
    }
    json!({"message": "ok", "nu": number, "ischeck": if p.ischeck { "1" } else { "0" },
           "condition": "F00", "com": p.com, "status": "200", "state": p.state, "data": data})
}

async fn query(State(inner): State<Arc<Inner>>, body: Bytes) -> String {
    let f = form(&body);
    let (Some(customer), Some(sign), Some(param)) =
        (f.get("customer"), f.get("sign"), f.get("param"))
    else {
        return failure("400", "提交的数据不完整");
    };
    let expected = md5_upper(&[param, &inner.key, &inner.customer]);
    if customer != &inner.customer || !sign.eq_ignore_ascii_case(&expected) {
        inner.books.lock().expect("books").bad_signatures += 1;
        return failure("503", "验证签名失败");
    }
    let Ok(p) = serde_json::from_str::<Value>(param) else {
        return failure("400", "提交的数据不完整");
    };
    let com = p["com"].as_str().unwrap_or_default().to_owned();
    let num = p["num"].as_str().unwrap_or_default().to_owned();
    let mut books = inner.books.lock().expect("books");
    books.queries.push((com.clone(), num.clone()));
    if com == "shunfeng" && p["phone"].as_str().unwrap_or_default().len() < 4 {
        return failure("408", "您提交的手机号码后四位不正确");
    }
    match books.parcels.get(&(com, num.clone())) {
        Some(parcel) => record(&num, parcel, p["order"] == "asc").to_string(),
        None => failure("500", "查询无结果，请隔段时间再查"),
    }
}

async fn subscribe(State(inner): State<Arc<Inner>>, body: Bytes) -> String {
    let f = form(&body);
    let Some(p) = f
        .get("param")
        .filter(|_| f.get("schema").map(String::as_str) == Some("json"))
        .and_then(|p| serde_json::from_str::<Value>(p).ok())
    else {
        return failure("700", "订阅方的订阅数据存在错误");
    };
    if p["key"] != inner.key.as_str() {
        return failure("600", "您不是合法的订阅者");
    }
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let s = Subscription {
        company: text(&p["company"]),
        number: text(&p["number"]),
        callback_url: text(&p["parameters"]["callbackurl"]),
        salt: text(&p["parameters"]["salt"]),
        phone: text(&p["parameters"]["phone"]),
    };
    let mut books = inner.books.lock().expect("books");
    books
        .subscribe_calls
        .push((s.company.clone(), s.number.clone()));
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

impl CourierServer {
    /// Starts a server with credentials of its own.
    pub async fn start() -> CourierServer {
        let inner = Arc::new(Inner {
            customer: random_hex(16).to_uppercase(),
            key: random_hex(12),
            books: Mutex::new(Books::default()),
        });
        let app = axum::Router::new()
            .route("/poll/query.do", axum::routing::post(query))
            .route("/poll", axum::routing::post(subscribe))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the courier server");
        let base_url = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        aftersales::providers::install_crypto_provider();
        CourierServer {
            inner,
            base_url,
            http: reqwest::Client::new(),
        }
    }

    fn books(&self) -> MutexGuard<'_, Books> {
        self.inner.books.lock().expect("books")
    }

    /// A configuration for our adapter pointing at this server, with the
    /// server's credentials, the given push salt and callback URL.
    pub fn config(&self, salt: &str, callback_url: Option<&str>) -> Kuaidi100Config {
        serde_json::from_value(json!({
            "customer": self.inner.customer, "key": self.inner.key, "salt": salt,
            "base_url": self.base_url, "callback_url": callback_url,
        }))
        .expect("a Kuaidi100 configuration")
    }

    /// Our adapter, configured for this server.
    pub fn tracker(&self, salt: &str, callback_url: Option<&str>) -> Kuaidi100 {
        Kuaidi100::new(&self.config(salt, callback_url)).expect("adapter")
    }

    /// Makes the services track parcels here: the adapter, its salt and
    /// the callback URL it subscribes with (`{app_base}/v1/couriers/kuaidi100`).
    pub fn install(&self, services: &mut aftersales::app::Services, app_base: &str, salt: &str) {
        let callback = format!("{app_base}/v1/couriers/kuaidi100");
        services.courier = Some(Arc::new(self.tracker(salt, Some(&callback))));
        services.courier_salt = Some(salt.to_owned());
        services.courier_callback_url = Some(callback);
    }

    /// Sets (or replaces) what the courier knows of a parcel.
    pub fn set_parcel(&self, number: &str, parcel: Parcel) {
        self.books()
            .parcels
            .insert((parcel.com.clone(), number.to_owned()), parcel);
    }

    /// The parcel as set, if any.
    pub fn parcel(&self, com: &str, number: &str) -> Option<Parcel> {
        self.books()
            .parcels
            .get(&(com.to_owned(), number.to_owned()))
            .cloned()
    }

    pub fn subscriptions(&self) -> Vec<Subscription> {
        self.books().subscriptions.clone()
    }

    /// How many subscription requests (duplicates included) came for a number.
    pub fn subscribe_calls(&self, number: &str) -> usize {
        self.books()
            .subscribe_calls
            .iter()
            .filter(|(_, n)| n == number)
            .count()
    }

    /// How many correctly signed queries came for a number.
    pub fn queries(&self, number: &str) -> usize {
        self.books()
            .queries
            .iter()
            .filter(|(_, n)| n == number)
            .count()
    }

    pub fn bad_signatures(&self) -> u32 {
        self.books().bad_signatures
    }

    /// The pushes Kuaidi100 would send for a parcel now: (callback URL,
    /// form body) per subscriber, signed with its salt. `shutdown` once
    /// signed for, else `polling`.
    pub fn push_bodies(&self, com: &str, number: &str) -> Vec<(String, Vec<u8>)> {
        let books = self.books();
        let Some(parcel) = books.parcels.get(&(com.to_owned(), number.to_owned())) else {
            return Vec::new();
        };
        let status = if parcel.ischeck {
            "shutdown"
        } else {
            "polling"
        };
        let last = record(number, parcel, false);
        books
            .subscriptions
            .iter()
            .filter(|s| s.company == com && s.number == number)
            .map(|s| {
                let param = json!({
                    "status": status, "billstatus": "got", "message": "",
                    "autoCheck": "0", "comOld": "", "comNew": "", "lastResult": last,
                })
                .to_string();
                (s.callback_url.clone(), signed_form(&param, &s.salt))
            })
            .collect()
    }

    /// Pushes the parcel as it is now to every subscriber; returns each
    /// reply (HTTP status, JSON body).
    pub async fn push(&self, com: &str, number: &str) -> Vec<(u16, Value)> {
        let mut out = Vec::new();
        for (url, body) in self.push_bodies(com, number) {
            out.push(self.post(&url, body).await);
        }
        out
    }

    /// Posts a push form body to a callback URL as Kuaidi100 does.
    pub async fn post(&self, url: &str, body: Vec<u8>) -> (u16, Value) {
        let resp = self
            .http
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .expect("the callback answers");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("reply text");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
}

/// A push form: `param` and `sign = UPPER(MD5(param + salt))`.
pub fn signed_form(param: &str, salt: &str) -> Vec<u8> {
    form_urlencoded::Serializer::new(String::new())
        .append_pair("param", param)
        .append_pair("sign", &md5_upper(&[param, salt]))
        .finish()
        .into_bytes()
}

/// A push `param` for a parcel as Kuaidi100 writes it (for hand-made pushes).
pub fn push_param(number: &str, parcel: &Parcel) -> String {
    json!({
        "status": if parcel.ischeck { "shutdown" } else { "polling" },
        "billstatus": "got", "message": "", "autoCheck": "0", "comOld": "", "comNew": "",
        "lastResult": record(number, parcel, false),
    })
    .to_string()
}
