//! Payouts to a bank card through Alipay's fund transfer API: the money of a
//! refund routed to a card the customer confirmed (`refund_to: {"route":
//! "bank_card", ...}`, [`PaymentChannel::BankCard`]) leaves the merchant's
//! Alipay account for that card.
//!
//! **Calls.** `alipay.fund.trans.uni.transfer` with product
//! `TRANS_BANKCARD_NO_PWD` and scene `DIRECT_TRANSFER`, and
//! `alipay.fund.trans.common.query`, through the same gateway, keys, RSA2
//! request signing and response verification as the trade-refund adapter
//! ([`super::alipay`]): one application, one [`Gateway`].
//!
//! **The card.** The payee comes with the request
//! ([`RefundRequest::payee`], the refund's confirmed card): the holder's name
//! and the bank go as `name` and `bankcard_ext_info.inst_name`, and
//! `card_token` is sent as the `identity` (`identity_type`
//! `BANKCARD_ACCOUNT`). We never hold full card numbers: the storefront's
//! card vault must issue a token that the payout path resolves into the card
//! number on its way to Alipay (for instance a detokenising outbound proxy
//! in front of the gateway, set as `gateway_url`). A request without a card
//! is refused for good, before anything is sent.
//!
//! **Idempotency.** `out_biz_no` is our out-refund number: Alipay makes one
//! transfer per number, and a repeated request answers with that transfer,
//! so a refund sent again moves money once.
//!
//! **Results.** The transfer's answer says `SUCCESS` (paid, with
//! `trans_date`), `DEALING` (on its way) or `FAIL`. The query adds
//! `WAIT_PAY` (on its way), `CLOSED` (failed) and `REFUND`: the bank sent
//! the money back after the transfer succeeded, which is reported as a
//! failure ("returned by the bank") for staff to see; a refund already
//! recorded as succeeded stays so (states only move forward), so such a
//! return needs staff on the merchant's Alipay account. `ORDER_NOT_EXIST`:
//! Alipay never received the transfer, and it is safe to send again.
//!
//! **Notifications.** Alipay's message service posts
//! `msg_method=alipay.fund.trans.order.changed` as a form (`biz_content`
//! the transfer as JSON, `app_id`, `notify_id`, `utc_timestamp`, `version`,
//! `charset`, `sign_type`, `sign`), signed RSA2 over every parameter but
//! `sign` and `sign_type`, sorted, exactly as the trade notifications. Whose
//! it is (`app_id`) and how much it says (`trans_amount`, this transfer
//! alone) are read onto the notice and judged against the refund it names;
//! a `utc_timestamp` older than Alipay's retries is refused as stale.
//! Answered `success`, or `fail` for Alipay to retry.

use super::alipay::{
    self, classify, format_amount, notify_time_acceptable, parse_time, parse_yuan, str_field,
    ConfigError, Gateway, Reply, Value,
};
use super::{
    Ack, Incoming, NoticeAmount, NotificationError, NotificationVerifier, ProviderError,
    ProviderRefund, ProviderState, RefundProvider, RefundRequest,
};
use crate::domain::money::Currency;
use crate::domain::order::PaymentChannel;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::fmt;

/// The webhook's name: notifications are verified at
/// `/v1/webhooks/alipay_payout`.
pub const WEBHOOK: &str = "alipay_payout";
/// Single transfer to a bank card without password.
pub const PRODUCT_CODE: &str = "TRANS_BANKCARD_NO_PWD";
pub const BIZ_SCENE: &str = "DIRECT_TRANSFER";
const TRANSFER_METHOD: &str = "alipay.fund.trans.uni.transfer";
const QUERY_METHOD: &str = "alipay.fund.trans.common.query";
/// The message a transfer's change of state comes as.
pub const NOTIFY_METHOD: &str = "alipay.fund.trans.order.changed";
/// What the customer's bank statement and Alipay's bill show, at most.
const TITLE_CHARS: usize = 64;

/// What is needed to pay out to bank cards as one Alipay application (the
/// one the fund transfer product is signed for; it may be the same as the
/// trade-refund application's).
#[derive(Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlipayPayoutConfig {
    /// `https://openapi.alipay.com/gateway.do` ([`alipay::PRODUCTION_GATEWAY`]),
    /// or the detokenising proxy in front of it.
    pub gateway_url: String,
    pub app_id: String,
    /// The app's RSA2048 private key: PEM (PKCS#8 or PKCS#1) or bare base64.
    pub app_private_key: String,
    /// Alipay's public key for this app: PEM or bare base64.
    pub alipay_public_key: String,
    /// Where Alipay posts `alipay.fund.trans.order.changed` (our
    /// `/v1/webhooks/alipay_payout`), when the request carries none. The
    /// message service may also be subscribed to in the open platform
    /// console instead.
    #[serde(default)]
    pub notify_url: Option<String>,
}

impl fmt::Debug for AlipayPayoutConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlipayPayoutConfig")
            .field("gateway_url", &self.gateway_url)
            .field("app_id", &self.app_id)
            .field("app_private_key", &"<redacted>")
            .field("alipay_public_key", &"<set>")
            .field("notify_url", &self.notify_url)
            .finish()
    }
}

/// The payout adapter: [`RefundProvider`] and [`NotificationVerifier`] for
/// the bank-card channel.
pub struct AlipayPayout {
    gateway: Gateway,
    notify_url: Option<String>,
}

impl fmt::Debug for AlipayPayout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlipayPayout")
            .field("gateway_url", &self.gateway.url())
            .field("app_id", &self.gateway.app_id())
            .field("app_private_key", &"<redacted>")
            .field("notify_url", &self.notify_url)
            .finish()
    }
}

impl AlipayPayout {
    pub fn new(config: &AlipayPayoutConfig) -> Result<Self, ConfigError> {
        Ok(Self {
            gateway: Gateway::new(
                &config.gateway_url,
                &config.app_id,
                &config.app_private_key,
                &config.alipay_public_key,
            )?,
            notify_url: config.notify_url.clone().filter(|u| !u.is_empty()),
        })
    }

    /// How a notice's account is written, here and in
    /// [`NotificationVerifier::account`].
    fn account_of(app_id: &str) -> String {
        format!("app_id={app_id}")
    }

    /// A transfer's node (answer, query or notification) as a
    /// [`ProviderRefund`]; `state` is already read from its status.
    fn refund_of(out_refund_no: &str, node: &Value, state: ProviderState) -> ProviderRefund {
        ProviderRefund {
            out_refund_no: out_refund_no.to_owned(),
            provider_refund_id: str_field(node, "order_id").map(str::to_owned),
            state,
            received_account: None,
            amount: None,
            account: None,
        }
    }

    /// Refuses a node about another transfer than the one asked about.
    fn same_transfer(node: &Value, out_refund_no: &str) -> Result<(), ProviderError> {
        match str_field(node, "out_biz_no") {
            Some(no) if no != out_refund_no => Err(ProviderError::Transient(format!(
                "alipay answered for transfer {no}, not {out_refund_no}"
            ))),
            _ => Ok(()),
        }
    }
}

/// A transfer's status as Alipay names it, with its time field (the
/// answer's `trans_date`, the query's and the notification's `pay_date`).
/// None: a status this adapter does not know.
fn state_of(node: &Value, time_field: &str) -> Option<ProviderState> {
    let why = || {
        let reason = str_field(node, "fail_reason");
        let code = str_field(node, "error_code");
        match (code, reason) {
            (Some(c), Some(r)) => format!("{c}: {r}"),
            (Some(x), None) | (None, Some(x)) => x.to_owned(),
            (None, None) => String::new(),
        }
    };
    let status = str_field(node, "status")?;
    Some(match status {
        "SUCCESS" => ProviderState::Succeeded {
            at: str_field(node, time_field).and_then(parse_time),
        },
        "DEALING" | "WAIT_PAY" => ProviderState::Processing,
        "FAIL" | "CLOSED" => ProviderState::Failed {
            reason: match why() {
                w if w.is_empty() => format!("transfer {status}"),
                w => format!("transfer {status}: {w}"),
            },
        },
        "REFUND" => ProviderState::Failed {
            reason: match why() {
                w if w.is_empty() => "returned by the bank".to_owned(),
                w => format!("returned by the bank: {w}"),
            },
        },
        _ => return None,
    })
}

/// `ORDER_NOT_EXIST`, with or without a family prefix.
fn not_found(sub_code: Option<&str>) -> bool {
    sub_code.is_some_and(|s| s == "ORDER_NOT_EXIST" || s.ends_with(".ORDER_NOT_EXIST"))
}

#[async_trait]
impl RefundProvider for AlipayPayout {
    fn channel(&self) -> PaymentChannel {
        PaymentChannel::BankCard
    }

    async fn refund(&self, req: &RefundRequest) -> Result<ProviderRefund, ProviderError> {
        let Some(card) = req.payee.as_ref().filter(|c| c.confirmed) else {
            return Err(ProviderError::Permanent(
                "a bank-card payout needs the card the customer confirmed".into(),
            ));
        };
        if req.currency() != Currency::Cny {
            return Err(ProviderError::Permanent(format!(
                "bank-card payouts through Alipay are in CNY only, not {}",
                req.currency().code()
            )));
        }
        let amount = req.amount.minor();
        if amount <= 0 {
            return Err(ProviderError::Permanent(format!(
                "payout amount must be positive, got {amount}"
            )));
        }
        let title: String = match req.reason.trim() {
            "" => "refund".to_owned(),
            r => r.chars().take(TITLE_CHARS).collect(),
        };
        let biz = serde_json::json!({
            "out_biz_no": req.out_refund_no,
            "trans_amount": format_amount(amount, Currency::Cny),
            "product_code": PRODUCT_CODE,
            "biz_scene": BIZ_SCENE,
            "order_title": title,
            "payee_info": {
                "identity": card.card_token,
                "identity_type": "BANKCARD_ACCOUNT",
                "name": card.holder,
                "bankcard_ext_info": {
                    // 2: a personal account (a customer's card).
                    "account_type": "2",
                    "inst_name": card.bank,
                },
            },
            "remark": format!("refund {}", req.out_refund_no),
        });
        let notify = req.notify_url.as_deref().or(self.notify_url.as_deref());
        let node = self
            .gateway
            .call(TRANSFER_METHOD, biz.to_string(), notify)
            .await?;
        Self::same_transfer(&node, &req.out_refund_no)?;
        // Accepted (code 10000) with a status we do not know: the money
        // may be moving; the query or the notification decides.
        let state = state_of(&node, "trans_date").unwrap_or(ProviderState::Processing);
        Ok(Self::refund_of(&req.out_refund_no, &node, state))
    }

    async fn query(&self, req: &RefundRequest) -> Result<Option<ProviderRefund>, ProviderError> {
        let biz = serde_json::json!({
            "out_biz_no": req.out_refund_no,
            "product_code": PRODUCT_CODE,
            "biz_scene": BIZ_SCENE,
        });
        let node = match self
            .gateway
            .reply(QUERY_METHOD, biz.to_string(), None)
            .await?
        {
            Reply::Done(node) => node,
            // Never received: sending it again is safe (same out_biz_no).
            Reply::Refused(a) if not_found(a.sub_code.as_deref()) => return Ok(None),
            Reply::Refused(a) => return Err(classify(&a)),
        };
        Self::same_transfer(&node, &req.out_refund_no)?;
        let state = state_of(&node, "pay_date").unwrap_or(ProviderState::Processing);
        Ok(Some(Self::refund_of(&req.out_refund_no, &node, state)))
    }
}

impl NotificationVerifier for AlipayPayout {
    fn channel(&self) -> PaymentChannel {
        PaymentChannel::BankCard
    }

    fn account(&self) -> Option<String> {
        Some(Self::account_of(self.gateway.app_id()))
    }

    fn verify(
        &self,
        incoming: &Incoming<'_>,
        now: DateTime<Utc>,
    ) -> Result<ProviderRefund, NotificationError> {
        let params = self.gateway.verified_notification(incoming.body)?;
        self.read_notice(&params, now)
    }

    fn ack(&self) -> Ack {
        alipay::ack()
    }

    fn nack(&self, e: &NotificationError) -> Ack {
        alipay::nack(e)
    }
}

impl AlipayPayout {
    /// A notification whose signature checked out, read: its method, when
    /// it was sent, then the transfer in `biz_content`.
    fn read_notice(
        &self,
        params: &BTreeMap<String, String>,
        now: DateTime<Utc>,
    ) -> Result<ProviderRefund, NotificationError> {
        let get = |name: &str| {
            params
                .get(name)
                .map(String::as_str)
                .filter(|v| !v.is_empty())
        };
        let method = get("msg_method").unwrap_or("");
        if method != NOTIFY_METHOD {
            return Err(NotificationError::NotARefund(format!(
                "message {}",
                if method.is_empty() {
                    get("notify_type").unwrap_or("without msg_method")
                } else {
                    method
                }
            )));
        }
        let stamp = get("utc_timestamp")
            .ok_or_else(|| NotificationError::Malformed("no utc_timestamp".into()))?;
        let sent = stamp
            .parse::<i64>()
            .ok()
            .and_then(DateTime::<Utc>::from_timestamp_millis)
            .ok_or_else(|| {
                NotificationError::Malformed(format!("utc_timestamp {stamp} unreadable"))
            })?;
        if !notify_time_acceptable(sent, now) {
            return Err(NotificationError::Stale(format!(
                "utc_timestamp {stamp} is too far from now"
            )));
        }
        let biz: Value = serde_json::from_str(get("biz_content").unwrap_or("")).map_err(|e| {
            NotificationError::Malformed(format!("biz_content is not a JSON object: {e}"))
        })?;
        if let Some(product) = str_field(&biz, "product_code") {
            if product != PRODUCT_CODE {
                return Err(NotificationError::NotARefund(format!(
                    "transfer of product {product}"
                )));
            }
        }
        let out_biz_no = str_field(&biz, "out_biz_no")
            .ok_or_else(|| NotificationError::Malformed("no out_biz_no".into()))?;
        let state = state_of(&biz, "pay_date").ok_or_else(|| {
            NotificationError::NotARefund(format!(
                "transfer status {}",
                str_field(&biz, "status").unwrap_or("missing")
            ))
        })?;
        // This transfer alone, in yuan; a notice that does not say is
        // refused by the refund it names.
        let amount = match str_field(&biz, "trans_amount") {
            None => None,
            Some(a) => Some(NoticeAmount::Refund(parse_yuan(a).ok_or_else(|| {
                NotificationError::Malformed(format!("trans_amount {a} unreadable"))
            })?)),
        };
        Ok(ProviderRefund {
            amount,
            account: get("app_id").map(Self::account_of),
            ..Self::refund_of(out_biz_no, &biz, state)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::money::Money;
    use crate::domain::refund::BankCard;
    use axum::body::Bytes;
    use axum::extract::{RawQuery, State};
    use axum::response::{IntoResponse, Response};
    use base64::engine::general_purpose::STANDARD as B64;
    use base64::Engine as _;
    use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
    use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
    use rsa::rand_core::OsRng;
    use rsa::signature::{RandomizedSigner, SignatureEncoding, Verifier};
    use rsa::{RsaPrivateKey, RsaPublicKey};
    use serde_json::json;
    use sha2::Sha256;
    use std::collections::VecDeque;
    use std::sync::{Arc, Mutex, OnceLock};

    const APP_ID: &str = "2021000123456789";

    struct Keys {
        app: RsaPrivateKey,
        alipay: RsaPrivateKey,
        stranger: RsaPrivateKey,
    }

    /// Generated here, once per test binary; none is in the repository.
    fn keys() -> &'static Keys {
        static KEYS: OnceLock<Keys> = OnceLock::new();
        KEYS.get_or_init(|| {
            let key = || RsaPrivateKey::new(&mut OsRng, 2048).expect("RSA 2048");
            Keys {
                app: key(),
                alipay: key(),
                stranger: key(),
            }
        })
    }

    fn rsa2(key: &RsaPrivateKey, content: &str) -> String {
        let signer = SigningKey::<Sha256>::new(key.clone());
        B64.encode(
            signer
                .sign_with_rng(&mut OsRng, content.as_bytes())
                .to_bytes(),
        )
    }

    fn rsa2_verifies(key: &RsaPrivateKey, content: &str, sign: &str) -> bool {
        let Ok(raw) = B64.decode(sign) else {
            return false;
        };
        let Ok(signature) = Signature::try_from(raw.as_slice()) else {
            return false;
        };
        VerifyingKey::<Sha256>::new(RsaPublicKey::from(key))
            .verify(content.as_bytes(), &signature)
            .is_ok()
    }

    /// The gateway's own rendering of the rules, written apart from the
    /// adapter's: requests sign every non-empty parameter but `sign`;
    /// notifications every parameter but `sign` and `sign_type`.
    fn joined<'a>(params: impl Iterator<Item = (&'a String, &'a String)>) -> String {
        params
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&")
    }

    /// A local Alipay gateway: verifies each request's RSA2 signature with
    /// the app's public key, records it, and answers the next scripted
    /// node, signed with Alipay's key.
    #[derive(Default)]
    struct Script {
        requests: Vec<BTreeMap<String, String>>,
        bad_signatures: u32,
        answers: VecDeque<Value>,
    }

    type Shared = Arc<Mutex<Script>>;

    fn script(g: &Shared) -> std::sync::MutexGuard<'_, Script> {
        g.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn gateway(State(g): State<Shared>, RawQuery(query): RawQuery, body: Bytes) -> Response {
        let query = query.unwrap_or_default();
        let params: BTreeMap<String, String> = form_urlencoded::parse(query.as_bytes())
            .chain(form_urlencoded::parse(&body))
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let content = joined(
            params
                .iter()
                .filter(|(k, v)| k.as_str() != "sign" && !v.is_empty()),
        );
        let sign = params.get("sign").cloned().unwrap_or_default();
        let node_name = format!(
            "{}_response",
            params
                .get("method")
                .cloned()
                .unwrap_or_default()
                .replace('.', "_")
        );
        let mut g = script(&g);
        let node = if rsa2_verifies(&keys().app, &content, &sign) {
            g.requests.push(params);
            g.answers.pop_front().unwrap_or_else(|| {
                json!({"code": "20000",
                "msg": "Service Currently Unavailable", "sub_code": "isp.unknow-error",
                "sub_msg": "nothing scripted"})
                .as_object()
                .cloned()
                .unwrap_or_default()
            })
        } else {
            g.bad_signatures += 1;
            json!({"code": "40002", "msg": "Invalid Arguments",
                   "sub_code": "isv.invalid-signature", "sub_msg": "验签出错"})
            .as_object()
            .cloned()
            .unwrap_or_default()
        };
        let text = serde_json::to_string(&node).unwrap_or_default();
        let sign = rsa2(&keys().alipay, &text);
        (
            [("content-type", "application/json;charset=utf-8")],
            format!(r#"{{"{node_name}":{text},"sign":"{sign}"}}"#),
        )
            .into_response()
    }

    fn config(gateway_url: &str) -> AlipayPayoutConfig {
        AlipayPayoutConfig {
            gateway_url: gateway_url.into(),
            app_id: APP_ID.into(),
            app_private_key: keys().app.to_pkcs8_pem(LineEnding::LF).unwrap().to_string(),
            alipay_public_key: RsaPublicKey::from(&keys().alipay)
                .to_public_key_pem(LineEnding::LF)
                .unwrap(),
            notify_url: Some("https://shop.example/v1/webhooks/alipay_payout".into()),
        }
    }

    /// The adapter against a fresh local gateway answering `answers` in turn.
    async fn payout(answers: Vec<Value>) -> (AlipayPayout, Shared) {
        let g = Shared::default();
        script(&g).answers = answers.into();
        let app = axum::Router::new()
            .route("/gateway.do", axum::routing::post(gateway))
            .with_state(g.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let p = AlipayPayout::new(&config(&format!("http://{addr}/gateway.do"))).unwrap();
        (p, g)
    }

    fn obj(v: serde_json::Value) -> Value {
        v.as_object().cloned().unwrap()
    }

    fn card() -> BankCard {
        BankCard {
            bank: "招商银行".into(),
            holder: "李雷".into(),
            last4: "0403".into(),
            card_token: "tok_4f9a-0403".into(),
            confirmed: true,
        }
    }

    fn request(no: &str, amount: i64) -> RefundRequest {
        RefundRequest {
            out_refund_no: no.into(),
            provider_txn_id: "2026112522001412345678901234".into(),
            amount: Money::from_minor(amount, Currency::Cny),
            payment_total: Money::from_minor(20_000, Currency::Cny),
            reason: "after-sales refund".into(),
            notify_url: None,
            payee: Some(card()),
        }
    }

    fn accepted(no: &str, status: &str) -> Value {
        let mut n = obj(json!({"code": "10000", "msg": "Success", "out_biz_no": no,
            "order_id": "20261125110070000006210012345678",
            "pay_fund_order_id": "20261125110070001506210012345678", "status": status}));
        if status == "SUCCESS" {
            n.insert("trans_date".into(), json!("2026-11-25 10:30:00"));
        }
        if status == "FAIL" {
            n.insert("fail_reason".into(), json!("收款卡已注销"));
        }
        n
    }

    fn refused(code: &str, sub: &str, sub_msg: &str) -> Value {
        obj(json!({"code": code, "msg": "Business Failed", "sub_code": sub, "sub_msg": sub_msg}))
    }

    #[tokio::test]
    async fn a_transfer_is_signed_and_carries_the_card() {
        let (p, g) = payout(vec![accepted("RFclm1P1", "SUCCESS")]).await;
        let answer = p.refund(&request("RFclm1P1", 1234)).await.unwrap();
        assert_eq!(
            answer.state,
            ProviderState::Succeeded {
                at: parse_time("2026-11-25 10:30:00")
            }
        );
        assert_eq!(
            answer.provider_refund_id.as_deref(),
            Some("20261125110070000006210012345678")
        );
        let s = script(&g);
        assert_eq!(s.bad_signatures, 0, "verified with the app's public key");
        let sent = &s.requests[0];
        assert_eq!(sent["method"], TRANSFER_METHOD);
        assert_eq!(sent["app_id"], APP_ID);
        assert_eq!(sent["sign_type"], "RSA2");
        assert_eq!(
            sent["notify_url"],
            "https://shop.example/v1/webhooks/alipay_payout"
        );
        let biz: serde_json::Value = serde_json::from_str(&sent["biz_content"]).unwrap();
        assert_eq!(
            biz,
            json!({
                "out_biz_no": "RFclm1P1",
                "trans_amount": "12.34",
                "product_code": "TRANS_BANKCARD_NO_PWD",
                "biz_scene": "DIRECT_TRANSFER",
                "order_title": "after-sales refund",
                "payee_info": {
                    "identity": "tok_4f9a-0403",
                    "identity_type": "BANKCARD_ACCOUNT",
                    "name": "李雷",
                    "bankcard_ext_info": {"account_type": "2", "inst_name": "招商银行"},
                },
                "remark": "refund RFclm1P1",
            })
        );
    }

    #[tokio::test]
    async fn dealing_and_fail_answers() {
        let (p, g) = payout(vec![
            accepted("RF1", "DEALING"),
            accepted("RF1", "DEALING"),
            accepted("RF2", "FAIL"),
            // An answer about another transfer is not believed.
            accepted("RF9", "SUCCESS"),
        ])
        .await;
        for _ in 0..2 {
            let a = p.refund(&request("RF1", 500)).await.unwrap();
            assert_eq!(a.state, ProviderState::Processing);
        }
        // A repeat is the same request: Alipay makes one transfer per
        // out_biz_no.
        {
            let s = script(&g);
            assert_eq!(s.requests[0]["biz_content"], s.requests[1]["biz_content"]);
        }
        let a = p.refund(&request("RF2", 500)).await.unwrap();
        assert_eq!(
            a.state,
            ProviderState::Failed {
                reason: "transfer FAIL: 收款卡已注销".into()
            }
        );
        let e = p.refund(&request("RF3", 500)).await.unwrap_err();
        assert!(
            matches!(&e, ProviderError::Transient(m) if m.contains("RF9")),
            "{e}"
        );
    }

    #[tokio::test]
    async fn refusals_are_transient_or_permanent() {
        let transient = [
            refused("20000", "isp.unknow-error", "服务暂不可用"),
            refused("40004", "SYSTEM_ERROR", "系统繁忙"),
            refused("40004", "aop.ACQ.SYSTEM_ERROR", "系统异常"),
        ];
        let permanent = [
            refused("40004", "PAYEE_NOT_EXIST", "收款账号不存在"),
            refused("40004", "PAYEE_ACC_OCUPIED", "收款账号被占用"),
            refused("40004", "EXCEED_LIMIT_SM_AMOUNT", "单笔金额超限"),
            refused("40004", "PAYER_BALANCE_NOT_ENOUGH", "付款方余额不足"),
        ];
        let n = transient.len() + permanent.len();
        let (p, g) = payout(transient.iter().chain(&permanent).cloned().collect()).await;
        for t in &transient {
            let e = p.refund(&request("RF1", 500)).await.unwrap_err();
            assert!(matches!(&e, ProviderError::Transient(_)), "{t:?}: {e}");
        }
        for r in &permanent {
            let e = p.refund(&request("RF1", 500)).await.unwrap_err();
            let sub_msg = r["sub_msg"].as_str().unwrap();
            assert!(
                matches!(&e, ProviderError::Permanent(m) if m.contains(sub_msg)),
                "{r:?}: {e}"
            );
        }
        assert_eq!(script(&g).requests.len(), n);

        // Refused before anything is sent: no card, not CNY, nothing to pay.
        let mut no_card = request("RF2", 500);
        no_card.payee = None;
        let mut unconfirmed = request("RF2", 500);
        unconfirmed.payee = Some(BankCard {
            confirmed: false,
            ..card()
        });
        let mut usd = request("RF2", 500);
        usd.amount = Money::from_minor(500, Currency::Usd);
        for req in [no_card, unconfirmed, usd, request("RF2", 0)] {
            let e = p.refund(&req).await.unwrap_err();
            assert!(matches!(e, ProviderError::Permanent(_)), "{e}");
        }
        assert_eq!(script(&g).requests.len(), n);
    }

    #[tokio::test]
    async fn a_response_signed_by_someone_else_is_not_believed() {
        let (p, g) = payout(vec![]).await;
        // Our gateway signs with Alipay's key; an adapter that trusts
        // another key refuses its answers (the transfer may have happened:
        // transient, for a retry or a query to decide).
        let mut c = config(&script_url(&p));
        c.alipay_public_key = RsaPublicKey::from(&keys().stranger)
            .to_public_key_pem(LineEnding::LF)
            .unwrap();
        let other = AlipayPayout::new(&c).unwrap();
        script(&g).answers.push_back(accepted("RF1", "SUCCESS"));
        let e = other.refund(&request("RF1", 500)).await.unwrap_err();
        assert!(
            matches!(&e, ProviderError::Transient(m) if m.contains("signature")),
            "{e}"
        );
    }

    fn script_url(p: &AlipayPayout) -> String {
        p.gateway.url().to_owned()
    }

    #[tokio::test]
    async fn queries_map_every_status() {
        let q = |status: &str| {
            let mut n = obj(
                json!({"code": "10000", "msg": "Success", "out_biz_no": "RF1",
                "order_id": "2026112511007", "status": status}),
            );
            if status == "SUCCESS" {
                n.insert("pay_date".into(), json!("2026-11-26 09:00:00"));
            }
            if status == "CLOSED" {
                n.insert("error_code".into(), json!("PAYEE_CARD_INFO_ERROR"));
                n.insert("fail_reason".into(), json!("收款卡信息有误"));
            }
            n
        };
        let (p, g) = payout(vec![
            q("SUCCESS"),
            q("DEALING"),
            q("WAIT_PAY"),
            q("FAIL"),
            q("CLOSED"),
            q("REFUND"),
            refused("40004", "ORDER_NOT_EXIST", "转账订单不存在"),
            refused("40004", "SYSTEM_ERROR", "系统繁忙"),
        ])
        .await;
        let req = request("RF1", 500);
        let state = |r: Option<ProviderRefund>| r.map(|r| r.state);
        assert_eq!(
            state(p.query(&req).await.unwrap()),
            Some(ProviderState::Succeeded {
                at: parse_time("2026-11-26 09:00:00")
            })
        );
        for _ in 0..2 {
            assert_eq!(
                state(p.query(&req).await.unwrap()),
                Some(ProviderState::Processing)
            );
        }
        assert_eq!(
            state(p.query(&req).await.unwrap()),
            Some(ProviderState::Failed {
                reason: "transfer FAIL".into()
            })
        );
        assert_eq!(
            state(p.query(&req).await.unwrap()),
            Some(ProviderState::Failed {
                reason: "transfer CLOSED: PAYEE_CARD_INFO_ERROR: 收款卡信息有误".into()
            })
        );
        assert_eq!(
            state(p.query(&req).await.unwrap()),
            Some(ProviderState::Failed {
                reason: "returned by the bank".into()
            })
        );
        assert_eq!(p.query(&req).await.unwrap(), None);
        assert!(matches!(
            p.query(&req).await,
            Err(ProviderError::Transient(_))
        ));
        let s = script(&g);
        assert_eq!(s.bad_signatures, 0);
        let biz: serde_json::Value = serde_json::from_str(&s.requests[0]["biz_content"]).unwrap();
        assert_eq!(s.requests[0]["method"], QUERY_METHOD);
        assert_eq!(
            biz,
            json!({"out_biz_no": "RF1", "product_code": "TRANS_BANKCARD_NO_PWD",
                   "biz_scene": "DIRECT_TRANSFER"})
        );
    }

    /// `alipay.fund.trans.order.changed` as Alipay's message service posts
    /// it, signed by `key` over every parameter but sign and sign_type.
    fn notification(
        key: &RsaPrivateKey,
        app_id: &str,
        sent: DateTime<Utc>,
        biz: serde_json::Value,
    ) -> Vec<u8> {
        let params: BTreeMap<String, String> = [
            ("msg_method", NOTIFY_METHOD.to_owned()),
            ("app_id", app_id.to_owned()),
            ("notify_id", "2026112500222103000000000000000001".to_owned()),
            ("utc_timestamp", sent.timestamp_millis().to_string()),
            ("version", "1.1".to_owned()),
            ("charset", "utf-8".to_owned()),
            ("biz_content", biz.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let sign = rsa2(key, &joined(params.iter()));
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&params)
            .append_pair("sign_type", "RSA2")
            .append_pair("sign", &sign)
            .finish()
            .into_bytes()
    }

    fn changed(status: &str) -> serde_json::Value {
        json!({"out_biz_no": "RF1", "order_id": "2026112511007", "status": status,
               "trans_amount": "12.34", "pay_date": "2026-11-25 10:31:00",
               "biz_scene": BIZ_SCENE, "product_code": PRODUCT_CODE,
               "error_code": "", "fail_reason": ""})
    }

    fn verify(p: &AlipayPayout, body: &[u8]) -> Result<ProviderRefund, NotificationError> {
        p.verify(&Incoming { headers: &[], body }, Utc::now())
    }

    #[tokio::test]
    async fn notifications_are_verified_then_read() {
        let (p, _) = payout(vec![]).await;
        let now = Utc::now();
        let good = notification(&keys().alipay, APP_ID, now, changed("SUCCESS"));
        let n = verify(&p, &good).unwrap();
        assert_eq!(n.out_refund_no, "RF1");
        assert_eq!(n.provider_refund_id.as_deref(), Some("2026112511007"));
        assert_eq!(
            n.state,
            ProviderState::Succeeded {
                at: parse_time("2026-11-25 10:31:00")
            }
        );
        assert_eq!(n.amount, Some(NoticeAmount::Refund(1234)));
        assert_eq!(n.account, p.account());
        assert_eq!(p.ack().body, "success");

        // Tampered after signing (the amount), or signed by another key.
        let text = String::from_utf8(good.clone()).unwrap();
        let tampered = text.replace("12.34", "99.34");
        assert_ne!(tampered, text);
        for body in [
            tampered.into_bytes(),
            notification(&keys().stranger, APP_ID, now, changed("SUCCESS")),
            text.replace("&sign=", "&sign=AA").into_bytes(),
            text.replace("sign_type=RSA2", "sign_type=RSA").into_bytes(),
        ] {
            let e = verify(&p, &body).unwrap_err();
            assert!(matches!(e, NotificationError::BadSignature(_)), "{e}");
            let nack = p.nack(&e);
            assert_eq!((nack.status, nack.body.as_str()), (400, "fail"));
        }

        let e = verify(
            &p,
            &notification(
                &keys().alipay,
                APP_ID,
                now - chrono::Duration::days(4),
                changed("SUCCESS"),
            ),
        )
        .unwrap_err();
        assert!(matches!(e, NotificationError::Stale(_)), "{e}");

        let mut other = changed("SUCCESS");
        other["product_code"] = json!("TRANS_ACCOUNT_NO_PWD");
        let e = verify(&p, &notification(&keys().alipay, APP_ID, now, other)).unwrap_err();
        assert!(matches!(e, NotificationError::NotARefund(_)), "{e}");
        assert_eq!(p.nack(&e).body, "success", "acknowledged, ignored");

        let mut fail = changed("FAIL");
        fail["error_code"] = json!("PAYEE_CARD_INFO_ERROR");
        fail["fail_reason"] = json!("收款卡信息有误");
        assert_eq!(
            verify(&p, &notification(&keys().alipay, APP_ID, now, fail))
                .unwrap()
                .state,
            ProviderState::Failed {
                reason: "transfer FAIL: PAYEE_CARD_INFO_ERROR: 收款卡信息有误".into()
            }
        );
        assert_eq!(
            verify(
                &p,
                &notification(&keys().alipay, APP_ID, now, changed("REFUND"))
            )
            .unwrap()
            .state,
            ProviderState::Failed {
                reason: "returned by the bank".into()
            }
        );
    }

    /// Signed by Alipay but for another application: read, then refused by
    /// the refund it names (as every adapter's notices are judged).
    #[tokio::test]
    async fn a_notice_for_another_app_settles_nothing() {
        use crate::domain::claim::ClaimType;
        use crate::domain::refund::NoticeFacts;
        let (p, _) = payout(vec![]).await;
        let (_, _, change) = crate::domain::testkit::approved(ClaimType::RefundOnly);
        let mut refund = change.refunds[0].clone();
        refund.channel = PaymentChannel::BankCard;
        let mut biz = changed("SUCCESS");
        biz["out_biz_no"] = json!(refund.refund_id.to_string());
        biz["trans_amount"] = json!(format_amount(refund.amount.minor(), Currency::Cny));
        let channels = NotificationVerifier::channels(&p);
        let ours = p.account();
        let judged = |app: &str| {
            let n = verify(
                &p,
                &notification(&keys().alipay, app, Utc::now(), biz.clone()),
            )
            .unwrap();
            refund.notice_mismatch(&NoticeFacts {
                provider: WEBHOOK,
                channels: &channels,
                account: n.account.as_deref(),
                our_account: ours.as_deref(),
                amount: n.amount,
            })
        };
        assert_eq!(judged(APP_ID), None);
        let why = judged("2021000999999999").expect("another app's notice");
        assert!(why.contains("app_id=2021000999999999"), "{why}");
    }
}

/// Fuzzing the reading of signed notifications (see `crate::fuzzing`; the
/// signature check is the trade adapter's, fuzzed there): the transfer in
/// `biz_content` reads as written (its `out_biz_no`, its `trans_amount` to
/// the fen) or the notice is refused, never a panic.
#[cfg(test)]
mod fuzz {
    use super::*;
    use crate::fuzzing::{self, cases, json_edits, mutations, DEFAULT_CASES};
    use proptest::prelude::*;
    use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
    use serde_json::json;

    const NOW_MS: i64 = 1_764_000_000_000;
    const FIELDS: &[&str] = &[
        "out_biz_no",
        "order_id",
        "status",
        "trans_amount",
        "pay_date",
        "biz_scene",
        "product_code",
        "error_code",
        "fail_reason",
    ];

    fn adapter() -> &'static AlipayPayout {
        static ADAPTER: std::sync::OnceLock<AlipayPayout> = std::sync::OnceLock::new();
        ADAPTER.get_or_init(|| {
            let key = fuzzing::rsa_key();
            AlipayPayout::new(&AlipayPayoutConfig {
                gateway_url: alipay::PRODUCTION_GATEWAY.into(),
                app_id: "2021000123456789".into(),
                app_private_key: key.to_pkcs8_pem(LineEnding::LF).unwrap().to_string(),
                alipay_public_key: key
                    .to_public_key()
                    .to_public_key_pem(LineEnding::LF)
                    .unwrap(),
                notify_url: None,
            })
            .unwrap()
        })
    }

    /// Yuan with at most two decimals, in fen, computed apart.
    fn fen(s: &str) -> Option<i64> {
        let (i, f) = s.split_once('.').unwrap_or((s, ""));
        let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
        if i.is_empty() || f.len() > 2 || !digits(i) || !digits(f) {
            return None;
        }
        let d: rust_decimal::Decimal = s.parse().ok()?;
        i64::try_from(d * rust_decimal::Decimal::from(100)).ok()
    }

    #[test]
    fn fuzz_transfer_notices_read_as_written_or_are_refused() {
        let biz = json!({"out_biz_no": "RF1", "order_id": "2026112511007", "status": "SUCCESS",
            "trans_amount": "12.34", "pay_date": "2026-11-25 10:31:00", "biz_scene": BIZ_SCENE,
            "product_code": PRODUCT_CODE, "error_code": "", "fail_reason": ""});
        let strategy = (
            prop::sample::select(&["SUCCESS", "DEALING", "FAIL", "REFUND", "CLOSED", "OTHER"][..]),
            prop_oneof![
                Just("12.34".to_string()),
                "[0-9]{1,20}(\\.[0-9]{0,3})?",
                "-?[0-9]{0,3}\\.?[0-9]{0,3}",
                ".{0,12}",
            ],
            prop_oneof![2 => Just(Vec::new()), 1 => json_edits(3, FIELDS)],
            prop_oneof![3 => Just(Vec::new()), 1 => mutations(3)],
            prop_oneof![
                6 => (-60_000i64..60_000).prop_map(|d| (NOW_MS + d).to_string()),
                1 => prop_oneof![Just(i64::MIN), Just(i64::MAX), any::<i64>()].prop_map(|t| t.to_string()),
                1 => ".{0,20}",
            ],
            prop_oneof![6 => Just(NOTIFY_METHOD.to_string()), 1 => ".{0,20}"],
        );
        let now = DateTime::from_timestamp_millis(NOW_MS).unwrap();
        fuzzing::run(
            "alipay_payout/read_notice",
            cases(DEFAULT_CASES),
            strategy,
            |(status, amount, edits, bytes, stamp, method)| {
                let mut b = biz.clone();
                b["status"] = json!(status);
                b["trans_amount"] = json!(amount);
                let content =
                    String::from_utf8_lossy(&fuzzing::near_json(&b, &edits, &bytes)).into_owned();
                let params: BTreeMap<String, String> = [
                    ("msg_method", method),
                    ("app_id", "2021000123456789".to_string()),
                    ("utc_timestamp", stamp),
                    ("biz_content", content),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect();
                let result = adapter().read_notice(&params, now);
                if let Ok(r) = &result {
                    let v: Value = serde_json::from_str(&params["biz_content"]).unwrap();
                    prop_assert_eq!(Some(r.out_refund_no.as_str()), str_field(&v, "out_biz_no"));
                    let expected =
                        str_field(&v, "trans_amount").map(|a| fen(a).map(NoticeAmount::Refund));
                    match expected {
                        None => prop_assert_eq!(&r.amount, &None),
                        Some(e) => {
                            prop_assert!(
                                e.is_some(),
                                "{:?} accepted",
                                str_field(&v, "trans_amount")
                            );
                            prop_assert_eq!(&r.amount, &e);
                        }
                    }
                }
                Ok(())
            },
        );
    }
}
