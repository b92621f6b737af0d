//! Evidence through S3 for real (moto): the customer asks the API for an
//! upload URL, PUTs the bytes to the presigned URL over HTTP with exactly
//! the headers handed out, and the object-created event records the file on
//! the claim. The bucket does not check content type, length or expiry
//! (moto accepts any presigned PUT), so recording checks what landed.

use aftersales::adapters::s3_evidence::S3EvidenceStorage;
use aftersales::app::evidence::Recorded;
use aftersales_tests::http::{sample_order, spawn_app_with, TestClock};
use aws_lambda_events::event::s3::{S3Event, S3EventRecord};
use serde_json::json;
use std::sync::Arc;

async fn s3_client() -> aws_sdk_s3::Client {
    let config = aftersales_tests::moto::sdk_config().await;
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    )
}

/// A new, empty evidence bucket on moto.
async fn fresh_bucket() -> (aws_sdk_s3::Client, String) {
    let s3 = s3_client().await;
    let bucket = aftersales_tests::moto::unique_table_name("evidence").to_lowercase();
    s3.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("CreateBucket");
    (s3, bucket)
}

/// The client's HTTP PUT, exactly as the upload ticket says.
async fn put_as_ticketed(ticket: &aftersales::app::evidence::UploadView, body: Vec<u8>) {
    aftersales::providers::install_crypto_provider();
    let mut put = reqwest::Client::new().put(&ticket.url).body(body);
    for (k, v) in &ticket.headers {
        put = put.header(k.as_str(), v.as_str());
    }
    let resp = put.send().await.expect("PUT reaches S3");
    assert!(
        resp.status().is_success(),
        "{}",
        resp.text().await.unwrap_or_default()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_presigned_put_lands_on_the_claim() {
    let (s3, bucket) = fresh_bucket().await;
    let mut services = aftersales::app::Services::new(Arc::new(
        aftersales_tests::dynamo_table_without_stream().await,
    ));
    services.clock = TestClock::at("2026-11-23T10:00:00Z").clock();
    let app = spawn_app_with(services).await;
    // spawn_app_with wires local evidence storage; the cloud wiring is S3.
    let mut services = app.services.clone();
    services.evidence = Some(Arc::new(S3EvidenceStorage::new(s3.clone(), bucket.clone())));

    let (s, _) = app
        .call(
            "PUT",
            "/v1/shops/shop-1/orders/o-1",
            Some(&app.storefront("shop-1")),
            Some(&sample_order("alice")),
            &[],
        )
        .await;
    assert_eq!(s, 201);
    let (s, c) = app
        .call(
            "POST",
            "/v1/claims",
            Some(&app.customer("alice")),
            Some(
                &json!({"shop_id": "shop-1", "order_id": "o-1", "type": "return_refund",
                         "reason": "damaged", "lines": [{"line_id": "L1", "quantity": 1}]}),
            ),
            &[],
        )
        .await;
    assert_eq!(s, 201, "{c}");
    let claim_id = c["claim_id"].as_str().unwrap();
    let alice = aftersales::auth::Principal::Customer {
        customer_id: "alice".into(),
    };

    let photo = vec![0xffu8; 4096];
    let ticket = aftersales::app::evidence::create_upload(
        &services,
        &alice,
        claim_id,
        serde_json::from_value(
            json!({"content_type": "image/jpeg", "content_length": photo.len()}),
        )
        .unwrap(),
    )
    .await
    .expect("upload URL");
    assert!(ticket.url.contains("X-Amz-Signature="), "{}", ticket.url);
    assert!(ticket.url.contains(&bucket), "{}", ticket.url);
    put_as_ticketed(&ticket, photo.clone()).await;
    let got = s3
        .get_object()
        .bucket(&bucket)
        .key(&ticket.evidence_key)
        .send()
        .await
        .expect("the object is there");
    assert_eq!(got.content_type(), Some("image/jpeg"));
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().as_ref(),
        photo.as_slice()
    );

    // S3's event, as the evidence function receives it.
    let mut record = S3EventRecord::default();
    record.event_name = Some("ObjectCreated:Put".into());
    record.s3.bucket.name = Some(bucket.clone());
    record.s3.object.key = Some(ticket.evidence_key.clone());
    let mut event = S3Event::default();
    event.records = vec![record.clone(), record];
    let out = aftersales::lambda_s3::handle(&services, event)
        .await
        .expect("recorded");
    assert_eq!(
        out.iter().map(|(_, r)| r.clone()).collect::<Vec<_>>(),
        [
            Recorded::Added {
                claim_id: claim_id.into()
            },
            Recorded::AlreadyThere
        ]
    );
    let (_, c) = app
        .call(
            "GET",
            &format!("/v1/claims/{claim_id}"),
            Some(&app.customer("alice")),
            None,
            &[],
        )
        .await;
    assert_eq!(c["evidence"], json!([ticket.evidence_key]));

    // An object the customer put there bypassing the limits is not recorded.
    let key = format!("evidence/{claim_id}/big.jpg");
    s3.put_object()
        .bucket(&bucket)
        .key(&key)
        .content_type("application/pdf")
        .body(vec![1u8; 10].into())
        .send()
        .await
        .unwrap();
    let r = aftersales::app::evidence::record_upload(&services, &key)
        .await
        .unwrap();
    assert!(
        matches!(r, Recorded::Refused(ref why) if why.contains("not accepted")),
        "{r:?}"
    );
}

/// Evidence uploaded before the claim, through S3 (moto) and DynamoDB: the
/// object-created event records the upload as landed (once, however often
/// it comes), a claim carries it, and a file that bypassed the limits is
/// never carried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_before_the_claim_lands_and_is_carried() {
    use aftersales::app::evidence::{create_shop_upload, record_upload, ShopUploadRequest};
    use aftersales::app::{submit_claim, SubmitClaim};
    let (s3, bucket) = fresh_bucket().await;
    let mut services = aftersales::app::Services::new(Arc::new(
        aftersales_tests::dynamo_table_without_stream().await,
    ));
    services.evidence = Some(Arc::new(S3EvidenceStorage::new(s3.clone(), bucket.clone())));
    let app = spawn_app_with(services.clone()).await;
    app.push_order("o-1", &sample_order("alice")).await;
    let alice = aftersales::auth::Principal::Customer {
        customer_id: "alice".into(),
    };
    let photo = vec![0xd8u8; 2048];
    let ticket = create_shop_upload(
        &services,
        &alice,
        ShopUploadRequest {
            shop_id: "shop-1".into(),
            content_type: "image/png".into(),
            content_length: photo.len() as u64,
        },
    )
    .await
    .expect("upload URL");
    assert!(
        ticket.evidence_key.starts_with("evidence/upl_"),
        "{}",
        ticket.evidence_key
    );
    put_as_ticketed(&ticket, photo).await;
    let mut record = S3EventRecord::default();
    record.event_name = Some("ObjectCreated:Put".into());
    record.s3.object.key = Some(ticket.evidence_key.clone());
    let mut event = S3Event::default();
    event.records = vec![record.clone(), record];
    let out = aftersales::lambda_s3::handle(&services, event)
        .await
        .expect("recorded");
    assert_eq!(
        out.iter().map(|(_, r)| r.clone()).collect::<Vec<_>>(),
        [Recorded::Landed, Recorded::AlreadyThere]
    );
    let body: SubmitClaim = serde_json::from_value(json!({
        "shop_id": "shop-1", "order_id": "o-1", "type": "return_refund", "reason": "damaged",
        "evidence": [ticket.evidence_key], "lines": [{"line_id": "L1", "quantity": 1}]}))
    .unwrap();
    let (claim, created) = submit_claim(&services, &alice, body.clone(), None)
        .await
        .expect("the claim carries the upload");
    assert!(created);
    assert_eq!(claim.evidence, vec![ticket.evidence_key.clone()]);
    // Not twice.
    let mut again = body;
    again.lines = serde_json::from_value(json!([{"line_id": "L2", "quantity": 1}])).unwrap();
    let e = submit_claim(&services, &alice, again, None)
        .await
        .unwrap_err();
    assert_eq!(e.code(), "unknown_evidence");

    // A file put there outside the limits is refused when it lands.
    let sneaky = create_shop_upload(
        &services,
        &alice,
        ShopUploadRequest {
            shop_id: "shop-1".into(),
            content_type: "image/jpeg".into(),
            content_length: 10,
        },
    )
    .await
    .unwrap();
    s3.put_object()
        .bucket(&bucket)
        .key(&sneaky.evidence_key)
        .content_type("application/pdf")
        .body(vec![1u8; 10].into())
        .send()
        .await
        .unwrap();
    let r = record_upload(&services, &sneaky.evidence_key)
        .await
        .unwrap();
    assert!(matches!(r, Recorded::Refused(_)), "{r:?}");
}

/// A photo that lands in S3 is read once for its fingerprint when its
/// object-created event is recorded (GetObject against moto), and the
/// storage's `get` reads nothing over the size asked for or not there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_landed_photo_is_fingerprinted_from_s3() {
    use aftersales::app::evidence::{create_shop_upload, record_upload, ShopUploadRequest};
    use aftersales::domain::fingerprint::{sample::jpeg, Fingerprint};
    use aftersales::ports::EvidenceStorage;
    let (s3, bucket) = fresh_bucket().await;
    let mut services = aftersales::app::Services::new(Arc::new(
        aftersales_tests::dynamo_table_without_stream().await,
    ));
    let storage = Arc::new(S3EvidenceStorage::new(s3.clone(), bucket.clone()));
    services.evidence = Some(storage.clone());
    let alice = aftersales::auth::Principal::Customer {
        customer_id: "alice".into(),
    };
    let photo = jpeg(5, 320, 240, Some(("2026:11:20 12:00:00", Some("+08:00"))));
    let ticket = create_shop_upload(
        &services,
        &alice,
        ShopUploadRequest {
            shop_id: "shop-1".into(),
            content_type: "image/jpeg".into(),
            content_length: photo.len() as u64,
        },
    )
    .await
    .expect("upload URL");
    put_as_ticketed(&ticket, photo.clone()).await;
    let key = &ticket.evidence_key;
    assert_eq!(
        aftersales::repo::photos::fingerprint(&*services.table, key)
            .await
            .unwrap(),
        None,
        "nothing before the event"
    );
    assert_eq!(
        record_upload(&services, key).await.unwrap(),
        Recorded::Landed
    );
    let stored = aftersales::repo::photos::fingerprint(&*services.table, key)
        .await
        .unwrap();
    let expected = Fingerprint::of(&photo).expect("a photo");
    assert_eq!(stored, Some(Some(expected)));
    assert_eq!(
        expected.taken_by.map(|t| t.to_rfc3339()),
        Some("2026-11-20T04:00:00+00:00".into())
    );
    assert_eq!(
        storage.get(key, photo.len() as u64).await.unwrap(),
        Some(photo.clone())
    );
    assert_eq!(
        storage.get(key, photo.len() as u64 - 1).await.unwrap(),
        None
    );
    assert_eq!(
        storage
            .get("evidence/upl_x/none.jpg", 1 << 20)
            .await
            .unwrap(),
        None
    );
}

/// The pages' claim form has no script to PUT with: its photo comes with
/// the form and the service puts it into the bucket itself, through the
/// same hand-out and recording as a presigned upload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_photo_sent_with_the_pages_form_is_put_and_lands() {
    use aftersales::app::evidence::upload_from_form;
    use aftersales::domain::fingerprint::{sample::jpeg, Fingerprint};
    use aftersales::ports::EvidenceStorage;
    let (s3, bucket) = fresh_bucket().await;
    let mut services = aftersales::app::Services::new(Arc::new(
        aftersales_tests::dynamo_table_without_stream().await,
    ));
    let storage = Arc::new(S3EvidenceStorage::new(s3.clone(), bucket.clone()));
    services.evidence = Some(storage.clone());
    let alice = aftersales::auth::Principal::Customer {
        customer_id: "alice".into(),
    };
    let photo = jpeg(9, 320, 240, None);
    let key = upload_from_form(&services, &alice, "shop-1", "image/jpeg", &photo)
        .await
        .expect("the photo is stored");
    assert!(
        aftersales::app::evidence::is_upload_key(&key),
        "a pre-claim upload's key: {key}"
    );
    let object = storage.head(&key).await.unwrap().expect("in the bucket");
    assert_eq!(
        (object.size, object.content_type.as_deref()),
        (photo.len() as u64, Some("image/jpeg"))
    );
    assert_eq!(
        aftersales::repo::photos::fingerprint(&*services.table, &key)
            .await
            .unwrap(),
        Some(Fingerprint::of(&photo)),
        "recorded as landed, fingerprinted"
    );
    // A file of a type the shop does not take is refused before anything
    // is stored.
    let err = upload_from_form(&services, &alice, "shop-1", "text/plain", b"no photo")
        .await
        .expect_err("refused");
    assert!(err.answer().1.contains("evidence may be one of"), "{err:?}");
    let listed = s3
        .list_objects_v2()
        .bucket(&bucket)
        .send()
        .await
        .expect("ListObjectsV2");
    assert_eq!(listed.contents().len(), 1, "only the photo is stored");
}
