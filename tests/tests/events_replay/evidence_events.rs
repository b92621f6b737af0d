//! The evidence-events function's S3 object-created events, replayed
//! through the evidence glue against moto's S3 with the objects really
//! uploaded.

use super::helpers::{
    events_dir, file_claim_as, is_s3_event, json_files, put_sample_order, read_event,
};
use aftersales::app::evidence::Recorded;
use aftersales::app::Services;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::Arc;

/// The bucket the samples name: `${AWS::StackName}-evidence-${AWS::AccountId}`
/// of infra/template.yaml, for the stack `aftersales-dev` of samconfig.toml.
const EVIDENCE_BUCKET: &str = "aftersales-dev-evidence-123456789012";
/// The claim the sample evidence belongs to, and its customer.
const EVIDENCE_CLAIM: &str = "clm_0193a1b2c3d47e8f9a0b1c2d3e4f5a72";
const EVIDENCE_CUSTOMER: &str = "cust-500";

struct S3Expect {
    file: &'static str,
    /// What became of each record's object, given its key.
    check: fn(&[(String, Recorded)]),
}

/// The S3 replay, in order. Every `.json` file under an S3 folder must be here.
const S3_REPLAY: &[S3Expect] = &[
    S3Expect {
        // A photo uploaded with an upload URL of the claim.
        file: "evidence-events/object-created.json",
        check: |out| {
            assert_eq!(
                out,
                [(
                    out[0].0.clone(),
                    Recorded::Added {
                        claim_id: EVIDENCE_CLAIM.into()
                    }
                )],
                "{out:?}"
            );
        },
    },
    S3Expect {
        // Not an evidence key (the bucket's notification filters on the
        // prefix; this is the function's own check): refused, and the
        // invocation succeeds, so S3 does not retry it.
        file: "evidence-events/object-created-outside-evidence.json",
        check: |out| {
            assert_eq!(out.len(), 1, "{out:?}");
            assert_eq!(out[0].0, "exports/claims-2026-11.csv");
            assert!(
                matches!(&out[0].1, Recorded::Refused(why) if why.contains("not an evidence key")),
                "{out:?}"
            );
        },
    },
];

#[test]
fn every_s3_event_has_an_expectation_and_the_s3_shape() {
    let mut on_disk = BTreeSet::new();
    json_files(&events_dir(), &mut on_disk);
    on_disk.retain(|f| is_s3_event(f));
    let expected: BTreeSet<String> = S3_REPLAY.iter().map(|e| e.file.to_string()).collect();
    assert_eq!(
        on_disk, expected,
        "S3 events on disk vs S3_REPLAY in tests/tests/events_replay/evidence_events.rs"
    );
    for file in &on_disk {
        let ev: Value = serde_json::from_str(&read_event(file))
            .unwrap_or_else(|e| panic!("{file}: not JSON: {e}"));
        let records = ev["Records"]
            .as_array()
            .unwrap_or_else(|| panic!("{file}: Records"));
        assert!(!records.is_empty(), "{file}: no records");
        for r in records {
            assert_eq!(r["eventSource"], "aws:s3", "{file}");
            assert_eq!(r["s3"]["s3SchemaVersion"], "1.0", "{file}");
            for key in ["eventVersion", "awsRegion", "eventTime", "eventName"] {
                assert!(r[key].is_string(), "{file}: {key}");
            }
            assert!(
                r["eventName"]
                    .as_str()
                    .is_some_and(|n| n.starts_with("ObjectCreated:")),
                "{file}: the function subscribes to s3:ObjectCreated:*"
            );
            let bucket = &r["s3"]["bucket"];
            assert_eq!(bucket["name"], EVIDENCE_BUCKET, "{file}");
            assert_eq!(
                bucket["arn"],
                format!("arn:aws:s3:::{EVIDENCE_BUCKET}"),
                "{file}"
            );
            let object = &r["s3"]["object"];
            assert!(
                object["key"].as_str().is_some_and(|k| !k.is_empty()),
                "{file}: object.key"
            );
            assert!(object["size"].is_u64(), "{file}: object.size");
            assert!(object["eTag"].is_string(), "{file}: object.eTag");
        }
        // What the function's runtime reads.
        serde_json::from_value::<lambda_http::aws_lambda_events::event::s3::S3Event>(ev)
            .unwrap_or_else(|e| panic!("{file}: not an S3Event: {e}"));
    }
}

/// An S3 client for moto: path-style addressing, as moto serves buckets
/// under its own host name only.
async fn s3_client() -> aws_sdk_s3::Client {
    let config = aftersales_tests::moto::sdk_config().await;
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    )
}

/// A content type for an uploaded key, as the upload URL signed it.
fn content_type_of(key: &str) -> &'static str {
    match key.rsplit_once('.').map(|(_, ext)| ext) {
        Some("jpg") => "image/jpeg",
        Some("png") => "image/png",
        Some("mp4") => "video/mp4",
        Some("csv") => "text/csv",
        _ => "application/octet-stream",
    }
}

/// Uploads every object an event tells of, with the size it says, so the
/// replay finds what the real bucket would hold.
async fn upload_objects_of(s3: &aws_sdk_s3::Client, file: &str) {
    let ev: Value = serde_json::from_str(&read_event(file)).expect("JSON");
    for r in ev["Records"].as_array().expect("Records") {
        let key = r["s3"]["object"]["key"].as_str().expect("key");
        let size = r["s3"]["object"]["size"].as_u64().expect("size") as usize;
        s3.put_object()
            .bucket(EVIDENCE_BUCKET)
            .key(key)
            .content_type(content_type_of(key))
            .body(vec![0xd8u8; size].into())
            .send()
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "{file}: PutObject {key}: {}",
                    aws_sdk_s3::error::DisplayErrorContext(&e)
                )
            });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_events_replay_through_the_evidence_glue_on_s3_and_dynamodb() {
    use aftersales::adapters::s3_evidence::S3EvidenceStorage;

    let s3 = s3_client().await;
    match s3.create_bucket().bucket(EVIDENCE_BUCKET).send().await {
        Ok(_) => {}
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_bucket_already_owned_by_you()) => {}
        Err(e) => panic!(
            "CreateBucket: {}",
            aws_sdk_s3::error::DisplayErrorContext(&e)
        ),
    }
    let mut services = Services::new(Arc::new(aftersales_tests::dynamo_table().await));
    services.evidence = Some(Arc::new(S3EvidenceStorage::new(
        s3.clone(),
        EVIDENCE_BUCKET,
    )));
    // The claim the photo is for: a damaged T-shirt, waiting for photos.
    put_sample_order(&services, EVIDENCE_CUSTOMER, "o-500").await;
    file_claim_as(
        &services,
        EVIDENCE_CUSTOMER,
        "o-500",
        "damaged",
        EVIDENCE_CLAIM,
    )
    .await;

    for e in S3_REPLAY {
        upload_objects_of(&s3, e.file).await;
        let out = aftersales::lambda_s3::handle(
            &services,
            serde_json::from_str(&read_event(e.file))
                .unwrap_or_else(|err| panic!("{}: not an S3 event: {err}", e.file)),
        )
        .await
        .unwrap_or_else(|err| panic!("{}: the invocation failed: {err}", e.file));
        (e.check)(&out);
    }

    // The photo is on the claim, told on its timeline as the customer's.
    let (claim, _) = aftersales::repo::claims::get(&*services.table, EVIDENCE_CLAIM)
        .await
        .unwrap()
        .expect("the claim");
    let claim = serde_json::to_value(&claim).unwrap();
    let ev: Value =
        serde_json::from_str(&read_event("evidence-events/object-created.json")).unwrap();
    let key = ev["Records"][0]["s3"]["object"]["key"].clone();
    assert_eq!(claim["evidence"], json!([key]), "{claim}");
    let last = claim["timeline"]
        .as_array()
        .and_then(|t| t.last())
        .expect("timeline");
    assert_eq!(
        (&last["event"], &last["evidence"], &last["actor"]),
        (
            &json!("evidence_added"),
            &json!([key]),
            &json!({"kind": "customer", "id": EVIDENCE_CUSTOMER})
        ),
        "{claim}"
    );

    // S3 delivers at least once: the same event again changes nothing.
    let out = aftersales::lambda_s3::handle(&services, serde_json::from_value(ev).unwrap())
        .await
        .expect("a redelivery succeeds");
    assert!(
        matches!(out.as_slice(), [(_, Recorded::AlreadyThere)]),
        "{out:?}"
    );
    let (again, _) = aftersales::repo::claims::get(&*services.table, EVIDENCE_CLAIM)
        .await
        .unwrap()
        .expect("the claim");
    assert_eq!(again.evidence.len(), 1, "recorded once");
    assert_eq!(
        serde_json::to_value(&again).unwrap()["timeline"],
        claim["timeline"]
    );
}
