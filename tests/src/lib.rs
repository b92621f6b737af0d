//! Test harness shared by the integration tests: local AWS emulator, apps on loopback.

pub mod catalogue;
pub mod courier_server;
pub mod http;
pub mod procs;
pub mod provider_servers;
pub mod soak;
pub mod streams;

use aftersales::store::sqlite::SqliteTable;

pub use moto::{dynamo_table, dynamo_table_without_stream};

/// A fresh, empty SQLite table (in memory).
pub fn sqlite_table() -> SqliteTable {
    SqliteTable::in_memory().expect("open an in-memory SQLite table")
}

/// A fresh table on the named engine: `sqlite`, or DynamoDB on moto
/// (without a stream) for anything else.
pub async fn engine_table(engine: &str) -> std::sync::Arc<dyn aftersales::store::Table> {
    match engine {
        "sqlite" => std::sync::Arc::new(sqlite_table()),
        _ => std::sync::Arc::new(dynamo_table_without_stream().await),
    }
}

/// The local AWS emulator (moto), shared by all tests of one test binary.
///
/// The first call to [`endpoint`] starts `moto_server` on a free loopback
/// port (or uses `AFTERSALES_MOTO_URL` when set). The server runs under a
/// small shell watchdog that kills it as soon as the test process is gone,
/// however that process ends, so no moto process outlives `cargo test`.
pub mod moto {
    use std::fs::File;
    use std::io::{Read, Seek, SeekFrom, Write};
    use std::net::{SocketAddr, TcpListener, TcpStream};
    use std::process::{Child, Command, Stdio};
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;
    use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

    use aftersales::store::dynamodb::DynamoTable;
    use aws_config::{BehaviorVersion, Region, SdkConfig};
    use aws_sdk_dynamodb::config::Credentials;
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
        Projection, ProjectionType, ProvisionedThroughput, ScalarAttributeType,
        StreamSpecification, StreamViewType, TableStatus, TimeToLiveSpecification,
    };
    use serde_yaml::Value;

    /// Environment variable naming an already running endpoint (moto or
    /// LocalStack) to use instead of starting one.
    pub const URL_ENV: &str = "AFTERSALES_MOTO_URL";

    const INSTALL_HINT: &str = "install moto with: pip install 'moto[server]' \
        (or set AFTERSALES_MOTO_URL to a running moto/LocalStack endpoint)";

    /// Starts moto (through `tests/moto_server.py`, moto's own server with
    /// a faster transaction backup), then watches both the test process (`$1`) and moto:
    /// when either is gone, the other is stopped.
    const WATCHDOG: &str = r#"
parent=$1; port=$2; launcher=$3
if command -v python3 >/dev/null 2>&1; then
    python3 "$launcher" -H 127.0.0.1 -p "$port" &
else
    echo "python3 is not on PATH" >&2
    exit 127
fi
m=$!
trap 'kill $m 2>/dev/null' EXIT HUP INT TERM
while kill -0 "$parent" 2>/dev/null && kill -0 "$m" 2>/dev/null; do sleep 0.5; done
kill "$m" 2>/dev/null
wait "$m"
"#;

    static ENDPOINT: OnceLock<Result<String, String>> = OnceLock::new();

    /// Calls one action of an AWS JSON API on moto, for the APIs no SDK
    /// crate here covers (DynamoDB Streams, EventBridge): `target` is the
    /// `X-Amz-Target` (`AWSEvents.PutRule`), `scope` the credential scope's
    /// service, `version` the JSON protocol's (1.0, 1.1). Moto does not
    /// check the signature. The answer, null when empty; a failure panics.
    pub async fn json_api(
        scope: &str,
        version: &str,
        target: &str,
        body: serde_json::Value,
    ) -> serde_json::Value {
        aftersales::providers::install_crypto_provider();
        let resp = reqwest::Client::new()
            .post(endpoint())
            .header("content-type", format!("application/x-amz-json-{version}"))
            .header("x-amz-target", target)
            .header(
                "authorization",
                format!(
                    "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/{scope}/aws4_request, \
                     SignedHeaders=host, Signature=0"
                ),
            )
            .body(body.to_string())
            .send()
            .await
            .expect("moto answers");
        let status = resp.status();
        let v: serde_json::Value = resp.json().await.unwrap_or(serde_json::Value::Null);
        assert!(status.is_success(), "{target}: {status} {v}");
        v
    }

    /// The emulator's URL (`http://127.0.0.1:PORT`). Starts moto on first use
    /// (blocking, about a second). Panics with installation instructions when
    /// moto cannot be started: tests that need it fail, they are never skipped.
    pub fn endpoint() -> String {
        let started = ENDPOINT.get_or_init(|| match std::env::var(URL_ENV) {
            Ok(url) if !url.trim().is_empty() => Ok(url.trim().trim_end_matches('/').to_owned()),
            _ => start(),
        });
        match started {
            Ok(url) => url.clone(),
            Err(reason) => panic!("moto is not available: {reason}\n{INSTALL_HINT}"),
        }
    }

    fn start() -> Result<String, String> {
        let mut last_error = String::new();
        // A free port can be taken between choosing and binding it: retry.
        for _ in 0..3 {
            match start_on(free_port()?) {
                Ok(url) => return Ok(url),
                Err(e) if e.contains("in use") => last_error = e,
                Err(e) => return Err(e),
            }
        }
        Err(last_error)
    }

    fn free_port() -> Result<u16, String> {
        let listener =
            TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free loopback port: {e}"))?;
        listener
            .local_addr()
            .map(|a| a.port())
            .map_err(|e| format!("no free loopback port: {e}"))
    }

    fn start_on(port: u16) -> Result<String, String> {
        // An anonymous (already unlinked) file collects moto's output, for
        // the error message and without ever filling a pipe.
        let mut log = tempfile_log()?;
        let out = log.try_clone().map_err(|e| e.to_string())?;
        let err = log.try_clone().map_err(|e| e.to_string())?;
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(WATCHDOG)
            .arg("sh")
            .arg(std::process::id().to_string())
            .arg(port.to_string())
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/moto_server.py"))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("cannot run sh to start moto_server: {e}"))?;

        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!(
                    "moto exited ({status}) before answering on port {port}; its output:\n{}",
                    read_log(&mut log)
                ));
            }
            if answers(addr) {
                // The watchdog owns moto from here on; `child` is not waited
                // for (it ends with the test process).
                std::mem::forget(child);
                return Ok(format!("http://127.0.0.1:{port}"));
            }
            if Instant::now() > deadline {
                stop(&mut child);
                return Err(format!(
                    "moto did not answer on port {port} within 30 s; its output:\n{}",
                    read_log(&mut log)
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn tempfile_log() -> Result<File, String> {
        tempfile::tempfile().map_err(|e| format!("cannot create a log file for moto: {e}"))
    }

    fn read_log(log: &mut File) -> String {
        let mut text = String::new();
        let _ = log.seek(SeekFrom::Start(0));
        let _ = log.read_to_string(&mut text);
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    fn stop(child: &mut Child) {
        // Killing the watchdog makes its EXIT trap stop moto.
        let _ = Command::new("kill")
            .arg(child.id().to_string())
            .stderr(Stdio::null())
            .status();
        let _ = child.wait();
    }

    /// True when an HTTP server answers on `addr`.
    fn answers(addr: SocketAddr) -> bool {
        let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
        let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
        if stream
            .write_all(b"GET /moto-api/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            .is_err()
        {
            return false;
        }
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.")
    }

    /// SDK configuration for the emulator: credentials test/test, us-east-1.
    pub async fn sdk_config() -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(endpoint())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "static"))
            .load()
            .await
    }

    /// A DynamoDB client for the emulator. Build one per test (per tokio
    /// runtime): SDK clients keep pooled connections tied to their runtime.
    pub async fn dynamodb_client() -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&sdk_config().await)
    }

    /// A unique table name, so tests never share a table.
    pub fn unique_table_name(prefix: &str) -> String {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        format!(
            "{prefix}-{}-{}-{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        )
    }

    /// A fresh, empty table shaped exactly like `AftersalesTable` in
    /// `infra/template.yaml` (keys, indexes, projections, stream, billing
    /// mode, TTL), on the emulator.
    pub async fn dynamo_table() -> DynamoTable {
        let client = dynamodb_client().await;
        let name = unique_table_name("aftersales");
        create_table_from_template(&client, &name, "AftersalesTable").await;
        DynamoTable::new(client, name)
    }

    /// Like [`dynamo_table`], with the stream turned off afterwards. moto
    /// keeps every stream record in memory and deep-copies the whole table,
    /// records included, for each item of every TransactWriteItems call, so
    /// a test writing hundreds of claims slows down quadratically with the
    /// stream on. Only for tests that do not read the stream.
    pub async fn dynamo_table_without_stream() -> DynamoTable {
        let client = dynamodb_client().await;
        let name = unique_table_name("aftersales");
        create_table(&client, &name, "AftersalesTable", false).await;
        DynamoTable::new(client, name)
    }

    /// Creates table `name` from the `AWS::DynamoDB::Table` resource
    /// `resource` of `infra/template.yaml` and waits until it is active.
    pub async fn create_table_from_template(
        client: &aws_sdk_dynamodb::Client,
        name: &str,
        resource: &str,
    ) {
        create_table(client, name, resource, true).await
    }

    /// (Turning a stream off with UpdateTable breaks later writes in moto
    /// 5.x, so a table without one is created without one.)
    async fn create_table(
        client: &aws_sdk_dynamodb::Client,
        name: &str,
        resource: &str,
        with_stream: bool,
    ) {
        let props = table_properties(resource);
        let at = |key: &str| format!("{resource}.Properties.{key}");

        let mut req = client.create_table().table_name(name);
        for def in seq(props, "AttributeDefinitions", &at("AttributeDefinitions")) {
            let def = AttributeDefinition::builder()
                .attribute_name(string(def, "AttributeName", &at("AttributeDefinitions")))
                .attribute_type(ScalarAttributeType::from(
                    string(def, "AttributeType", &at("AttributeDefinitions")).as_str(),
                ))
                .build()
                .expect("attribute definition");
            req = req.attribute_definitions(def);
        }
        req = req.set_key_schema(Some(key_schema(props, &at("KeySchema"))));
        let billing = opt_string(props, "BillingMode", &at("BillingMode"))
            .unwrap_or_else(|| "PROVISIONED".to_owned());
        req = req.billing_mode(BillingMode::from(billing.as_str()));
        if let Some(t) = field(props, "ProvisionedThroughput") {
            req = req.provisioned_throughput(throughput(t, &at("ProvisionedThroughput")));
        }
        if field(props, "GlobalSecondaryIndexes").is_some() {
            for gsi in seq(
                props,
                "GlobalSecondaryIndexes",
                &at("GlobalSecondaryIndexes"),
            ) {
                let path = at("GlobalSecondaryIndexes");
                let projection = field(gsi, "Projection")
                    .unwrap_or_else(|| panic!("{path}: an index without Projection"));
                let mut p = Projection::builder();
                if let Some(kind) = opt_string(projection, "ProjectionType", &path) {
                    p = p.projection_type(ProjectionType::from(kind.as_str()));
                }
                if field(projection, "NonKeyAttributes").is_some() {
                    for a in seq(projection, "NonKeyAttributes", &path) {
                        p = p.non_key_attributes(scalar(a, &path));
                    }
                }
                let mut index = GlobalSecondaryIndex::builder()
                    .index_name(string(gsi, "IndexName", &path))
                    .set_key_schema(Some(key_schema(gsi, &path)))
                    .projection(p.build());
                if let Some(t) = field(gsi, "ProvisionedThroughput") {
                    index = index.provisioned_throughput(throughput(t, &path));
                }
                req = req.global_secondary_indexes(index.build().expect("index"));
            }
        }
        if let Some(stream) = field(props, "StreamSpecification").filter(|_| with_stream) {
            let kind = string(stream, "StreamViewType", &at("StreamSpecification"));
            req = req.stream_specification(
                StreamSpecification::builder()
                    .stream_enabled(true)
                    .stream_view_type(StreamViewType::from(kind.as_str()))
                    .build()
                    .expect("stream specification"),
            );
        }
        req.send()
            .await
            .unwrap_or_else(|e| panic!("CreateTable {name}: {}", sdk_message(&e)));

        // moto creates tables active; real DynamoDB (and LocalStack) may not.
        for _ in 0..600 {
            let out = client
                .describe_table()
                .table_name(name)
                .send()
                .await
                .unwrap_or_else(|e| panic!("DescribeTable {name}: {}", sdk_message(&e)));
            if out.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }

        if let Some(ttl) = field(props, "TimeToLiveSpecification") {
            let path = at("TimeToLiveSpecification");
            let enabled = match field(ttl, "Enabled").map(untag) {
                Some(Value::Bool(b)) => *b,
                Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
                other => panic!("{path}.Enabled: expected a boolean, found {other:?}"),
            };
            if enabled {
                client
                    .update_time_to_live()
                    .table_name(name)
                    .time_to_live_specification(
                        TimeToLiveSpecification::builder()
                            .attribute_name(string(ttl, "AttributeName", &path))
                            .enabled(true)
                            .build()
                            .expect("ttl specification"),
                    )
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("UpdateTimeToLive {name}: {}", sdk_message(&e)));
            }
        }
    }

    fn sdk_message<E: std::error::Error>(e: &E) -> String {
        aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string()
    }

    /// `Resources.<resource>.Properties` of the SAM template (parsed once).
    fn table_properties(resource: &str) -> &'static Value {
        static TEMPLATE: OnceLock<Value> = OnceLock::new();
        let template = TEMPLATE.get_or_init(|| {
            let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../infra/template.yaml");
            let text =
                std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
            // CloudFormation short tags (!Ref, !GetAtt, !Sub...) parse as
            // `Value::Tagged`: fine anywhere this harness does not look.
            serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("cannot parse {path}: {e}"))
        });
        let resource_value = field(template, "Resources")
            .and_then(|r| field(r, resource))
            .unwrap_or_else(|| panic!("infra/template.yaml has no resource {resource}"));
        let kind = opt_string(resource_value, "Type", resource);
        assert_eq!(
            kind.as_deref(),
            Some("AWS::DynamoDB::Table"),
            "{resource} is not an AWS::DynamoDB::Table"
        );
        field(resource_value, "Properties")
            .unwrap_or_else(|| panic!("{resource} has no Properties"))
    }

    /// Looks through a tag on a mapping or sequence (it carries no meaning
    /// for the structure). Tagged scalars are intrinsic functions, rejected
    /// where a literal is needed.
    fn untag(v: &Value) -> &Value {
        match v {
            Value::Tagged(t) if matches!(t.value, Value::Mapping(_) | Value::Sequence(_)) => {
                untag(&t.value)
            }
            v => v,
        }
    }

    fn field<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
        untag(v).as_mapping().and_then(|m| m.get(key))
    }

    fn scalar(v: &Value, path: &str) -> String {
        match untag(v) {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Tagged(t) => panic!(
                "{path}: the test harness needs a literal here, found the intrinsic function {} {:?}",
                t.tag, t.value
            ),
            other => panic!("{path}: expected a scalar, found {other:?}"),
        }
    }

    fn opt_string(v: &Value, key: &str, path: &str) -> Option<String> {
        field(v, key).map(|s| scalar(s, &format!("{path}.{key}")))
    }

    fn string(v: &Value, key: &str, path: &str) -> String {
        opt_string(v, key, path).unwrap_or_else(|| panic!("{path}: missing {key}"))
    }

    fn seq<'a>(v: &'a Value, key: &str, path: &str) -> &'a [Value] {
        match field(v, key).map(untag) {
            Some(Value::Sequence(s)) => s,
            other => panic!("{path}: expected a list at {key}, found {other:?}"),
        }
    }

    fn key_schema(v: &Value, path: &str) -> Vec<KeySchemaElement> {
        seq(v, "KeySchema", path)
            .iter()
            .map(|k| {
                KeySchemaElement::builder()
                    .attribute_name(string(k, "AttributeName", path))
                    .key_type(KeyType::from(string(k, "KeyType", path).as_str()))
                    .build()
                    .expect("key schema element")
            })
            .collect()
    }

    fn throughput(v: &Value, path: &str) -> ProvisionedThroughput {
        let units = |key: &str| -> i64 {
            string(v, key, path)
                .parse()
                .unwrap_or_else(|e| panic!("{path}.{key}: {e}"))
        };
        ProvisionedThroughput::builder()
            .read_capacity_units(units("ReadCapacityUnits"))
            .write_capacity_units(units("WriteCapacityUnits"))
            .build()
            .expect("provisioned throughput")
    }
}

/// Runs each named `async fn name(engine: &str)` of a scenario file as two
/// tests, `sqlite::name` and `dynamodb::name` (moto), so every scenario
/// holds on both engines.
#[macro_export]
macro_rules! on_both_engines {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test]
            async fn $name() { super::$name("sqlite").await })*
        }
        mod dynamodb {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name("dynamodb").await })*
        }
    };
}
