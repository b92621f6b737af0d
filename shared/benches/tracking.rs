//! Return tracking: validating a tracking number as a customer typed it
//! (done on every claim that ships a return), and verifying one Kuaidi100
//! push (MD5 signature, then the JSON into a snapshot), the work done on
//! every courier callback before anything is recorded.
//!
//! `cargo bench -p aftersales --features providers --bench tracking`.
//! Medians are in `target/criterion/*/new/estimates.json`.

use aftersales::couriers::sandbox::push_form;
use aftersales::couriers::verify_push;
use aftersales::domain::tracking::{
    validate, Carrier, CourierState, TrackingEvent, TrackingSnapshot,
};
use chrono::{Duration, TimeZone, Utc};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;

/// Valid and invalid numbers over the carriers, in the forms customers
/// type them (lower case, spaces, full-width digits).
fn numbers() -> Vec<(Carrier, &'static str)> {
    let sto = "shentong".parse().expect("known code");
    vec![
        (Carrier::Shunfeng, "SF1234567890123"),
        (Carrier::Shunfeng, "sf 1234 5678 9012 3"),
        (Carrier::Shunfeng, "123456789012"),
        (Carrier::Zhongtong, "73123456789012"),
        (Carrier::Zhongtong, "77123456789012"),
        (Carrier::Yuantong, "YT1234567890123"),
        (Carrier::Yuantong, "yt12345"),
        (Carrier::Yunda, "312345678901234"),
        (Carrier::Yunda, "5123456789012"),
        (Carrier::Jd, "JDVA12345678901"),
        (Carrier::Jd, "ＪＤＶＡ１２３４５６７８９０１"),
        (Carrier::Ems, "9123456789012"),
        (Carrier::Ems, "EA123456789CN"),
        (Carrier::Ems, "PA1234567890?"),
        (sto, "773012345678901"),
        (sto, "UNKNOWN"),
    ]
}

fn validation(c: &mut Criterion) {
    let numbers = numbers();
    let mut g = c.benchmark_group("tracking");
    g.throughput(Throughput::Elements(numbers.len() as u64));
    g.bench_function("validate_16_numbers", |b| {
        b.iter(|| {
            let mut valid = 0;
            for (carrier, raw) in &numbers {
                if validate(black_box(*carrier), black_box(raw)).is_ok() {
                    valid += 1;
                }
            }
            valid
        })
    });
    g.finish();
}

/// A push as Kuaidi100 sends it for a delivered parcel with ten events.
fn push_verification(c: &mut Criterion) {
    let start = Utc
        .with_ymd_and_hms(2025, 3, 1, 2, 0, 0)
        .single()
        .expect("time");
    let events: Vec<TrackingEvent> = (0..10)
        .rev()
        .map(|i| TrackingEvent {
            at: start + Duration::hours(5 * i),
            context: format!("【深圳市】快件已到达 深圳转运中心，正在发往下一站（第{i}站）"),
            area: Some("广东,深圳市".into()),
        })
        .collect();
    let snapshot = TrackingSnapshot {
        state: CourierState::Delivered,
        signed: true,
        delivered_to: Some("广东,深圳市".into()),
        events,
    };
    let salt = "0f5d2c9a7b1e4d3c";
    let body = push_form("yuantong", "YT1234567890123", "shutdown", &snapshot, salt);
    assert!(verify_push(&body, salt).is_ok());
    let mut g = c.benchmark_group("tracking");
    g.throughput(Throughput::Bytes(body.len() as u64));
    g.bench_function("verify_push_10_events", |b| {
        b.iter(|| verify_push(black_box(&body), black_box(salt)).is_ok())
    });
    g.finish();
}

criterion_group!(benches, validation, push_verification);
criterion_main!(benches);
