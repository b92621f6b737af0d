//! The pages as the web function serves them on AWS: no authorizer in
//! front, the session cookie holding the issuer's own JWT, verified against
//! the issuer's keys (JWKS) with the issuer and audience the HTTP API's
//! authorizer trusts. A good token is answered for its principal, with the
//! API's tenancy; any other token is "sign in first" (401).

use aftersales::auth::{AuthConfigError, AuthMode, IssuerKeys};
use aftersales::web::{router, WebState, SESSION_COOKIE};
use aftersales_tests::http::{sample_order, spawn_app};
use axum::body::Body;
use base64::Engine;
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use serde_json::json;
use std::sync::Arc;
use tower::ServiceExt;

const ISSUER: &str = "https://issuer.example.test/pool-1";
const AUDIENCE: &str = "aftersales-web";
const SHOP: &str = "shop-1";
const ORDER: &str = "o-web-1";

/// An RSA signing key of our own issuer, with its JWKS entry.
struct TestIssuer {
    kid: String,
    encoding: jsonwebtoken::EncodingKey,
    jwk: serde_json::Value,
}

impl TestIssuer {
    fn new(kid: &str) -> TestIssuer {
        let key = rsa::RsaPrivateKey::new(&mut rand_core_os(), 2048).expect("an RSA key");
        let der = key.to_pkcs1_der().expect("der");
        let b64 = |b: Vec<u8>| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        TestIssuer {
            kid: kid.to_owned(),
            encoding: jsonwebtoken::EncodingKey::from_rsa_der(der.as_bytes()),
            jwk: json!({
                "kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
                "n": b64(key.n().to_bytes_be()), "e": b64(key.e().to_bytes_be()),
            }),
        }
    }

    fn sign(&self, claims: &serde_json::Value) -> String {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).expect("signed")
    }
}

fn rand_core_os() -> rsa::rand_core::OsRng {
    rsa::rand_core::OsRng
}

fn claims(sub: &str, role: &str, shop: Option<&str>) -> serde_json::Value {
    let mut c = json!({
        "sub": sub, "role": role, "iss": ISSUER, "aud": AUDIENCE,
        "exp": chrono::Utc::now().timestamp() + 600,
    });
    if let Some(s) = shop {
        c["shop_id"] = json!(s);
        c["staff_roles"] = json!("reviewer");
    }
    c
}

async fn get(app: &axum::Router, path: &str, token: Option<&str>) -> (u16, String) {
    let mut req = axum::http::Request::get(format!("{path}?lang=en"));
    if let Some(t) = token {
        req = req.header("cookie", format!("{SESSION_COOKIE}={t}"));
    }
    let res = app
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = res.status().as_u16();
    let body = axum::body::to_bytes(res.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn the_issuers_token_in_the_cookie_signs_in_with_the_apis_tenancy() {
    let api = spawn_app(Arc::new(aftersales_tests::sqlite_table())).await;
    api.push_order(ORDER, &sample_order("alice")).await;
    let (s, claim) = api
        .call(
            "POST",
            "/v1/claims",
            Some(&api.customer("alice")),
            Some(
                &json!({"shop_id": SHOP, "order_id": ORDER, "type": "return_refund",
                         "reason": "defective", "description": "broken",
                         "lines": [{"line_id": "L2", "quantity": 1}]}),
            ),
            &[],
        )
        .await;
    assert_eq!(s, 201, "{claim}");
    let claim_id = claim["claim_id"].as_str().unwrap().to_owned();

    let issuer = TestIssuer::new("k1");
    let jwks = json!({"keys": [issuer.jwk]}).to_string();
    let keys = IssuerKeys::from_jwks(ISSUER, AUDIENCE, &jwks).expect("the issuer's keys");
    let pages = router(WebState {
        services: api.services.clone(),
        auth: AuthMode::Issuer(Arc::new(keys)),
        dev_sign_in: false,
    });
    let claim_page = format!("/claims/{claim_id}");
    // How the customer's page names the claim (the desk shows the whole id).
    let shown = aftersales::domain::messages::short_id(&claim_id);
    let desk_page = format!("/desk/claims/{claim_id}");

    // The owner sees her claim; the shop's staff see it on the desk.
    let alice = issuer.sign(&claims("alice", "customer", None));
    let (s, body) = get(&pages, &claim_page, Some(&alice)).await;
    assert_eq!(s, 200, "{body}");
    assert!(body.contains(&shown), "{body}");
    // Roles as a JSON list, as issuers often send them: mapped like the
    // gateway's "[a b]".
    let mut staff = claims("st-1", "staff", Some(SHOP));
    staff["staff_roles"] = json!(["reviewer", "finance"]);
    let staff = issuer.sign(&staff);
    let (s, body) = get(&pages, &desk_page, Some(&staff)).await;
    assert_eq!(s, 200, "{body}");
    assert!(body.contains(&claim_id), "{body}");

    // As API Gateway hands the page to the function (payload 2.0: the
    // cookies in their own list, no authorizer context): the same answer.
    let event = json!({
        "version": "2.0",
        "routeKey": "GET /{page+}",
        "rawPath": claim_page,
        "rawQueryString": "lang=en",
        "cookies": ["lang=en", format!("{SESSION_COOKIE}={alice}")],
        "headers": {"host": "a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com",
                    "accept": "text/html"},
        "requestContext": {
            "accountId": "123456789012", "apiId": "a1b2c3d4e5",
            "domainName": "a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com",
            "domainPrefix": "a1b2c3d4e5",
            "http": {"method": "GET", "path": claim_page, "protocol": "HTTP/1.1",
                     "sourceIp": "198.51.100.23", "userAgent": "test"},
            "requestId": "req-web-1", "routeKey": "GET /{page+}", "stage": "$default",
            "time": "07/Dec/2026:06:00:00 +0000", "timeEpoch": 1796623200000u64
        },
        "pathParameters": {"page": claim_page.trim_start_matches('/')},
        "isBase64Encoded": false
    });
    let answer = aftersales::lambda::handle_http_api_event(pages.clone(), event.clone())
        .await
        .expect("an answer");
    assert_eq!(answer["statusCode"], 200, "{answer}");
    let body = answer["body"].as_str().unwrap_or_default();
    assert!(body.contains(&shown), "{answer}");
    let mut anonymous = event;
    anonymous["cookies"] = json!(["lang=en"]);
    let answer = aftersales::lambda::handle_http_api_event(pages.clone(), anonymous)
        .await
        .expect("an answer");
    assert_eq!(answer["statusCode"], 401, "{answer}");

    // Tenancy as on the API: another customer, the other shop's staff.
    let bob = issuer.sign(&claims("bob", "customer", None));
    let (s, body) = get(&pages, &claim_page, Some(&bob)).await;
    assert_eq!(s, 404, "{body}");
    assert!(
        !body.contains(&shown) && !body.contains(&claim_id),
        "{body}"
    );
    let outsider = issuer.sign(&claims("st-9", "staff", Some("shop-2")));
    let (s, body) = get(&pages, &desk_page, Some(&outsider)).await;
    assert!(s == 404 || s == 403, "{s} {body}");
    assert!(
        !body.contains(&shown) && !body.contains(&claim_id),
        "{body}"
    );

    // Any other token is no sign-in.
    let mut expired = claims("alice", "customer", None);
    expired["exp"] = json!(chrono::Utc::now().timestamp() - 3600);
    let mut wrong_issuer = claims("alice", "customer", None);
    wrong_issuer["iss"] = json!("https://elsewhere.example.test/");
    let mut wrong_audience = claims("alice", "customer", None);
    wrong_audience["aud"] = json!("another-app");
    let b64 = |v: &serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let unsigned = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(&claims("alice", "customer", None))
    );
    let stranger = TestIssuer::new("k1").sign(&claims("alice", "customer", None));
    // A token signed with HMAC over the public key's text must not pass
    // for the issuer's.
    let hs256 = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims("alice", "customer", None),
        &jsonwebtoken::EncodingKey::from_secret(jwks.as_bytes()),
    )
    .unwrap();
    for (what, token) in [
        ("no cookie", None),
        ("expired", Some(issuer.sign(&expired))),
        ("wrong issuer", Some(issuer.sign(&wrong_issuer))),
        ("wrong audience", Some(issuer.sign(&wrong_audience))),
        ("unsigned", Some(unsigned)),
        ("another key", Some(stranger)),
        ("hs256", Some(hs256)),
        ("garbage", Some("not-a-token".to_owned())),
    ] {
        let (s, body) = get(&pages, &claim_page, token.as_deref()).await;
        assert_eq!(s, 401, "{what}: {body}");
        assert!(
            !body.contains(&shown) && !body.contains(&claim_id),
            "{what}: {body}"
        );
    }
}

#[test]
fn the_web_function_refuses_a_wrong_issuer_configuration() {
    let issuer = TestIssuer::new("k1");
    let jwks = json!({"keys": [issuer.jwk]}).to_string();
    assert!(IssuerKeys::from_jwks(ISSUER, AUDIENCE, &jwks).is_ok());
    assert!(matches!(
        IssuerKeys::from_jwks("", AUDIENCE, &jwks),
        Err(AuthConfigError::MissingIssuerSetting(_))
    ));
    assert!(matches!(
        IssuerKeys::from_jwks(ISSUER, " ", &jwks),
        Err(AuthConfigError::MissingIssuerSetting(_))
    ));
    for bad in [
        r#"{"keys": []}"#,
        "not json",
        r#"{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}"#,
    ] {
        assert!(
            matches!(
                IssuerKeys::from_jwks(ISSUER, AUDIENCE, bad),
                Err(AuthConfigError::Jwks(_))
            ),
            "{bad}"
        );
    }
    assert_eq!(
        IssuerKeys::jwks_url("https://issuer.example.test/pool-1/", None),
        "https://issuer.example.test/pool-1/.well-known/jwks.json"
    );
    assert_eq!(
        IssuerKeys::jwks_url(ISSUER, Some("https://keys.example.test/jwks")),
        "https://keys.example.test/jwks"
    );
}
