//! Verifying one provider notification, the work done on every webhook
//! before anything is recorded. Keys are generated at start-up.
//!
//! `cargo bench -p aftersales --features providers --bench webhooks`.
//! Medians are in `target/criterion/*/new/estimates.json`.

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit};
use aftersales::providers::wechat::{WechatPay, WechatPayConfig};
use aftersales::providers::{Incoming, NotificationVerifier};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use chrono::Utc;
use criterion::{criterion_group, criterion_main, Criterion};
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::rand_core::OsRng;
use rsa::signature::{RandomizedSigner, SignatureEncoding};
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::json;
use sha2::Sha256;
use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Duration;

/// A REFUND.SUCCESS notification as WeChat Pay posts it: RSA 2048 platform
/// signature, AEAD_AES_256_GCM resource.
fn wechat_notification(c: &mut Criterion) {
    let merchant = RsaPrivateKey::new(&mut OsRng, 2048).expect("key");
    let platform = RsaPrivateKey::new(&mut OsRng, 2048).expect("key");
    let api_v3_key = "0123456789abcdefghijABCDEFGHIJ01";
    let serial = "PUB_KEY_ID_0119000001092025010100000001";
    let pay = WechatPay::new(&WechatPayConfig {
        base_url: "https://api.mch.weixin.qq.com".into(),
        mchid: "1900000109".into(),
        merchant_serial_no: "5157F09EFDC096DE15EBE81A47057A7232F1B8E1".into(),
        merchant_private_key_pem: merchant
            .to_pkcs8_pem(LineEnding::LF)
            .expect("pem")
            .to_string(),
        platform_public_keys: BTreeMap::from([(
            serial.to_string(),
            RsaPublicKey::from(&platform)
                .to_public_key_pem(LineEnding::LF)
                .expect("pem"),
        )]),
        api_v3_key: api_v3_key.into(),
        notify_url: None,
        timeout_ms: 10_000,
    })
    .expect("adapter");

    let resource = json!({
        "mchid": "1900000109", "out_trade_no": "O20250101001",
        "transaction_id": "4200000001202501010000000001", "out_refund_no": "R-1001",
        "refund_id": "50000000382019052709732678001", "refund_status": "SUCCESS",
        "success_time": "2025-01-01T12:00:05+08:00",
        "user_received_account": "招商银行信用卡0403",
        "amount": {"total": 8800, "refund": 500, "payer_total": 8800, "payer_refund": 500}
    })
    .to_string();
    let nonce = "fdasflkja484";
    let sealed = Aes256Gcm::new_from_slice(api_v3_key.as_bytes())
        .expect("key")
        .encrypt(
            &(*b"fdasflkja484").into(),
            Payload {
                msg: resource.as_bytes(),
                aad: b"refund",
            },
        )
        .expect("encrypt");
    let body = json!({
        "id": "EV-2018022511223320873", "create_time": "2025-01-01T12:00:06+08:00",
        "resource_type": "encrypt-resource", "event_type": "REFUND.SUCCESS", "summary": "退款成功",
        "resource": {"original_type": "refund", "algorithm": "AEAD_AES_256_GCM",
            "ciphertext": B64.encode(sealed), "associated_data": "refund", "nonce": nonce}
    })
    .to_string();
    let now = Utc::now();
    let ts = now.timestamp().to_string();
    let header_nonce = "5K8264ILTKCH16CQ2502SI8ZNMTM67VS";
    let signature = SigningKey::<Sha256>::new(platform).sign_with_rng(
        &mut OsRng,
        format!("{ts}\n{header_nonce}\n{body}\n").as_bytes(),
    );
    let headers: Vec<(String, String)> = vec![
        ("wechatpay-timestamp".into(), ts),
        ("wechatpay-nonce".into(), header_nonce.into()),
        (
            "wechatpay-signature".into(),
            B64.encode(signature.to_bytes()),
        ),
        ("wechatpay-serial".into(), serial.into()),
        (
            "wechatpay-signature-type".into(),
            "WECHATPAY2-SHA256-RSA2048".into(),
        ),
    ];
    let incoming = Incoming {
        headers: &headers,
        body: body.as_bytes(),
    };
    pay.verify(&incoming, now).expect("a valid notification");

    c.bench_function("wechat_notification_verify", |b| {
        b.iter(|| pay.verify(black_box(&incoming), now))
    });
}

/// A refund `trade_status_sync` as Alipay posts it: form-encoded, RSA2
/// (SHA256withRSA 2048) over the sorted parameters.
fn alipay_notification(c: &mut Criterion) {
    use aftersales::providers::alipay::{self, Alipay, AlipayConfig};
    use rsa::signature::Signer;
    let app = RsaPrivateKey::new(&mut OsRng, 2048).expect("key");
    let platform = RsaPrivateKey::new(&mut OsRng, 2048).expect("key");
    let adapter = Alipay::new(&AlipayConfig {
        gateway_url: alipay::PRODUCTION_GATEWAY.into(),
        app_id: "2021000123456789".into(),
        app_private_key: app.to_pkcs8_pem(LineEnding::LF).expect("pem").to_string(),
        alipay_public_key: RsaPublicKey::from(&platform)
            .to_public_key_pem(LineEnding::LF)
            .expect("pem"),
        notify_url: None,
        seller_id: Some("2088101122136241".into()),
    })
    .expect("adapter");
    let now = Utc::now();
    let beijing = alipay::format_timestamp(now);
    let mut params: BTreeMap<&str, String> = BTreeMap::from([
        ("notify_time", beijing.clone()),
        ("notify_type", "trade_status_sync".into()),
        ("notify_id", "ac05099524730693a8b330c5ecf72da9786".into()),
        ("charset", "utf-8".into()),
        ("version", "1.0".into()),
        ("app_id", "2021000123456789".into()),
        ("trade_no", "2025010122001412345678901234".into()),
        ("out_trade_no", "O20250101-0001".into()),
        ("out_biz_no", "R-1001".into()),
        ("buyer_id", "2088102122524333".into()),
        ("seller_id", "2088101122136241".into()),
        ("trade_status", "TRADE_SUCCESS".into()),
        ("total_amount", "88.00".into()),
        ("receipt_amount", "88.00".into()),
        ("refund_fee", "5.00".into()),
        ("subject", "夏季 T恤".into()),
        ("gmt_create", "2025-01-01 10:00:00".into()),
        ("gmt_payment", "2025-01-01 10:00:05".into()),
        ("gmt_refund", format!("{beijing}.320")),
    ]);
    let content = alipay::notification_sign_content(params.iter().map(|(k, v)| (*k, v.as_str())));
    let sign = SigningKey::<Sha256>::new(platform).sign(content.as_bytes());
    params.insert("sign_type", "RSA2".into());
    params.insert("sign", B64.encode(sign.to_bytes()));
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params.iter())
        .finish();
    let headers: Vec<(String, String)> = vec![(
        "content-type".into(),
        "application/x-www-form-urlencoded; charset=utf-8".into(),
    )];
    let incoming = Incoming {
        headers: &headers,
        body: body.as_bytes(),
    };
    adapter
        .verify(&incoming, now)
        .expect("a valid notification");
    c.bench_function("alipay_notification_verify", |b| {
        b.iter(|| adapter.verify(black_box(&incoming), now))
    });
}

/// A `refund.updated` event as Stripe posts it: HMAC-SHA256 over "t.body".
fn stripe_notification(c: &mut Criterion) {
    use aftersales::providers::stripe::{self, Stripe, StripeConfig};
    let secret = "whsec_bench_0123456789abcdef0123456789";
    let adapter = Stripe::new(&StripeConfig {
        api_base: stripe::API_BASE.into(),
        secret_key: "sk_test_bench".into(),
        webhook_secret: secret.into(),
        account: None,
    })
    .expect("adapter");
    let body = json!({
        "id": "evt_1OaBcDeFgHiJkLmN", "object": "event", "api_version": "2024-06-20",
        "created": 1_735_725_600, "type": "refund.updated", "livemode": false,
        "data": {"object": {
            "id": "re_3OaBcDeFgHiJkLmN0", "object": "refund", "amount": 500,
            "currency": "usd", "payment_intent": "pi_3OaBcDeFgHiJkLmN0aBcDeFg",
            "charge": "ch_3OaBcDeFgHiJkLmN0", "status": "succeeded",
            "failure_reason": null, "reason": null, "created": 1_735_725_590,
            "metadata": {"out_refund_no": "R-1001", "reason": "Arrived damaged"}
        }}
    })
    .to_string();
    let now = Utc::now();
    let t = now.timestamp();
    let headers: Vec<(String, String)> = vec![
        ("content-type".into(), "application/json".into()),
        (
            "stripe-signature".into(),
            format!("t={t},v1={}", stripe::signature(secret, t, body.as_bytes())),
        ),
    ];
    let incoming = Incoming {
        headers: &headers,
        body: body.as_bytes(),
    };
    adapter
        .verify(&incoming, now)
        .expect("a valid notification");
    c.bench_function("stripe_notification_verify", |b| {
        b.iter(|| adapter.verify(black_box(&incoming), now))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    targets = wechat_notification, alipay_notification, stripe_notification
}
criterion_main!(benches);
