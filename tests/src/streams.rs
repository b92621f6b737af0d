//! The emulator's DynamoDB Streams API (no SDK crate for it here: three
//! JSON calls are all the tests need): every record of a table's stream,
//! as GetRecords answers them.

use aftersales::store::dynamodb::DynamoTable;
use serde_json::{json, Value};

/// Calls one action of the Streams API on moto.
pub async fn call(action: &str, body: Value) -> Value {
    crate::moto::json_api(
        "dynamodb",
        "1.0",
        &format!("DynamoDBStreams_20120810.{action}"),
        body,
    )
    .await
}

/// Every record of the table's stream so far, in shard order, each with
/// its `eventSourceARN` as Lambda and Pipes hand them over.
pub async fn records(table: &DynamoTable) -> Vec<Value> {
    let described = table
        .client
        .describe_table()
        .table_name(&table.table)
        .send()
        .await
        .expect("DescribeTable");
    let arn = described
        .table()
        .and_then(|t| t.latest_stream_arn())
        .expect("the table has a stream")
        .to_string();
    let stream = call("DescribeStream", json!({"StreamArn": arn})).await;
    let mut records = Vec::new();
    for shard in stream["StreamDescription"]["Shards"]
        .as_array()
        .expect("shards")
    {
        let it = call(
            "GetShardIterator",
            json!({"StreamArn": arn, "ShardId": shard["ShardId"], "ShardIteratorType": "TRIM_HORIZON"}),
        )
        .await;
        let mut iterator = it["ShardIterator"].clone();
        loop {
            let got = call("GetRecords", json!({"ShardIterator": iterator})).await;
            let page = got["Records"].as_array().cloned().unwrap_or_default();
            if page.is_empty() {
                break;
            }
            for mut r in page {
                r["eventSourceARN"] = json!(arn);
                records.push(r);
            }
            match got.get("NextShardIterator") {
                Some(next) if !next.is_null() => iterator = next.clone(),
                _ => break,
            }
        }
    }
    records
}
