//! CloudWatch metrics through the embedded metric format: one JSON line on
//! stdout per record, which Lambda's log delivery turns into metrics
//! (namespace `aftersales`, dimension `ShopId`) with no API call.

use crate::ports::{Metric, MetricsSink};
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

pub const NAMESPACE: &str = "aftersales";

/// The EMF document for `metrics` of one shop at `at`.
pub fn emf_line(shop_id: &str, at: DateTime<Utc>, metrics: &[Metric]) -> String {
    let defs: Vec<Value> = metrics
        .iter()
        .map(|m| json!({"Name": m.name, "Unit": m.unit}))
        .collect();
    let mut doc = Map::new();
    doc.insert(
        "_aws".into(),
        json!({
            "Timestamp": at.timestamp_millis(),
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["ShopId"]],
                "Metrics": defs,
            }],
        }),
    );
    doc.insert("ShopId".into(), json!(shop_id));
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
        assert_eq!(d["Dimensions"], json!([["ShopId"]]));
        assert_eq!(
            d["Metrics"][0],
            json!({"Name": "TimeToDecision", "Unit": "Seconds"})
        );
        assert_eq!(v["ShopId"], "shop-1");
        assert_eq!(v["TimeToDecision"], 9.5);
        assert_eq!(v["DecidedAutomatically"], 1.0);
        assert!(!line.contains('\n'), "one line");
    }
}
