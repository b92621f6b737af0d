//! CloudWatch metrics through the embedded metric format: one JSON line on
//! stdout per record, which Lambda's log delivery turns into metrics
//! (namespace `aftersales`) with no API call. Each figure is published twice
//! from the same line: per shop (dimension `ShopId`) and service-wide (no
//! dimension), which the template's alarms and dashboard read.
//!
//! The figures: `ClaimsSubmitted`, `ClaimsDecided`, `DecidedAutomatically`,
//! `TimeToDecision`, `TimeToRefund`, `Disputes*` (app::sla, from the claim
//! events); `RefundsSent`, `RefundsSucceeded`, `RefundsFailed` (a refund's
//! status moved, app::refunds); `ReconciliationFindings` (a refund
//! reconciliation had to settle or could not move); `WebhookRefusals` (per
//! `Provider`, no shop).

use crate::ports::{Metric, MetricsSink};
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

pub const NAMESPACE: &str = "aftersales";

/// The EMF document for `metrics` of one shop at `at`.
pub fn emf_line(shop_id: &str, at: DateTime<Utc>, metrics: &[Metric]) -> String {
    emf_doc(Some(("ShopId", shop_id)), at, metrics)
}

/// The EMF document for `metrics` that belong to no shop: service-wide, and
/// per `dimension` when given.
pub fn emf_service_line(
    dimension: Option<(&str, &str)>,
    at: DateTime<Utc>,
    metrics: &[Metric],
) -> String {
    emf_doc(dimension, at, metrics)
}

fn emf_doc(dimension: Option<(&str, &str)>, at: DateTime<Utc>, metrics: &[Metric]) -> String {
    let defs: Vec<Value> = metrics
        .iter()
        .map(|m| json!({"Name": m.name, "Unit": m.unit}))
        .collect();
    // An empty dimension set publishes the figure without dimensions.
    let dimensions = match dimension {
        Some((name, _)) => json!([[name], []]),
        None => json!([[]]),
    };
    let mut doc = Map::new();
    doc.insert(
        "_aws".into(),
        json!({
            "Timestamp": at.timestamp_millis(),
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": dimensions,
                "Metrics": defs,
            }],
        }),
    );
    if let Some((name, value)) = dimension {
        doc.insert(name.into(), json!(value));
    }
    for m in metrics {
        doc.insert(m.name.into(), json!(m.value));
    }
    Value::Object(doc).to_string()
}

/// Prints EMF lines to stdout (Lambda).
pub struct EmfStdout;

impl MetricsSink for EmfStdout {
    fn record(&self, shop_id: &str, at: DateTime<Utc>, metrics: &[Metric]) {
        if !metrics.is_empty() {
            println!("{}", emf_line(shop_id, at, metrics));
        }
    }

    fn record_service(
        &self,
        dimension: Option<(&'static str, &str)>,
        at: DateTime<Utc>,
        metrics: &[Metric],
    ) {
        if !metrics.is_empty() {
            println!("{}", emf_service_line(dimension, at, metrics));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_line_is_an_emf_document() {
        let at = Utc.with_ymd_and_hms(2026, 12, 5, 8, 0, 0).unwrap();
        let line = emf_line(
            "shop-1",
            at,
            &[
                Metric {
                    name: "TimeToDecision",
                    unit: "Seconds",
                    value: 9.5,
                },
                Metric {
                    name: "DecidedAutomatically",
                    unit: "Count",
                    value: 1.0,
                },
            ],
        );
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["_aws"]["Timestamp"], at.timestamp_millis());
        let d = &v["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(d["Namespace"], "aftersales");
        assert_eq!(d["Dimensions"], json!([["ShopId"], []]));
        assert_eq!(
            d["Metrics"][0],
            json!({"Name": "TimeToDecision", "Unit": "Seconds"})
        );
        assert_eq!(v["ShopId"], "shop-1");
        assert_eq!(v["TimeToDecision"], 9.5);
        assert_eq!(v["DecidedAutomatically"], 1.0);
        assert!(!line.contains('\n'), "one line");
    }

    #[test]
    fn refunds_and_reconciliation_are_counted_per_shop_and_service_wide() {
        let at = Utc.with_ymd_and_hms(2026, 12, 5, 8, 0, 0).unwrap();
        let line = emf_line(
            "shop-1",
            at,
            &[
                Metric::count("RefundsSucceeded"),
                Metric::count("ReconciliationFindings"),
            ],
        );
        let v: Value = serde_json::from_str(&line).unwrap();
        let d = &v["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(d["Dimensions"], json!([["ShopId"], []]));
        assert_eq!(
            d["Metrics"],
            json!([
                {"Name": "RefundsSucceeded", "Unit": "Count"},
                {"Name": "ReconciliationFindings", "Unit": "Count"}
            ])
        );
        assert_eq!(v["RefundsSucceeded"], 1.0);
        assert_eq!(v["ReconciliationFindings"], 1.0);
    }

    #[test]
    fn webhook_refusals_name_their_provider_and_no_shop() {
        let at = Utc.with_ymd_and_hms(2026, 12, 5, 8, 0, 0).unwrap();
        let line = emf_service_line(
            Some(("Provider", "wechat_pay")),
            at,
            &[Metric::count("WebhookRefusals")],
        );
        let v: Value = serde_json::from_str(&line).unwrap();
        let d = &v["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(d["Namespace"], "aftersales");
        assert_eq!(d["Dimensions"], json!([["Provider"], []]));
        assert_eq!(
            d["Metrics"],
            json!([{"Name": "WebhookRefusals", "Unit": "Count"}])
        );
        assert_eq!(v["Provider"], "wechat_pay");
        assert_eq!(v["WebhookRefusals"], 1.0);
        assert!(v.get("ShopId").is_none(), "{v}");
        // Without a dimension: service-wide only.
        let bare = emf_service_line(None, at, &[Metric::count("WebhookRefusals")]);
        let v: Value = serde_json::from_str(&bare).unwrap();
        assert_eq!(v["_aws"]["CloudWatchMetrics"][0]["Dimensions"], json!([[]]));
    }
}
