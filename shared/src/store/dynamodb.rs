//! The DynamoDB storage engine: the table of `infra/template.yaml`
//! (`AftersalesTable`), one item per [`Item`].
//!
//! Item layout: `pk`, `sk` (S); `gsi1pk`/`gsi1sk` ... `gsi5pk`/`gsi5sk` (S,
//! only when the item is in that index); `ver` (N); `expires_at` (N, the TTL
//! attribute, only when set); `body` (M, the JSON body converted with
//! serde_dynamo).
//!
//! JSON numbers become DynamoDB numbers: integers come back exactly, but a
//! float with an integral value (`2.0`) comes back as the integer `2`. Keep
//! money and other exact decimals as strings.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_config::BehaviorVersion;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, KeysAndAttributes, Put, Select, TransactWriteItem,
};
use aws_sdk_dynamodb::Client;

use super::{
    attr, check_transaction, Body, Condition, Cursor, Index, IndexKey, Item, Page, Query,
    StoreError, Table, WriteOp, MAX_BATCH_GET,
};

type Attributes = HashMap<String, AttributeValue>;

const MAX_PK_BYTES: usize = 2048;
const MAX_SK_BYTES: usize = 1024;
/// How often `get_many` asks again for keys DynamoDB left unprocessed.
const BATCH_GET_RETRIES: u32 = 8;

/// The DynamoDB implementation of [`Table`].
#[derive(Debug, Clone)]
pub struct DynamoTable {
    pub client: Client,
    /// The table name.
    pub table: String,
}

impl DynamoTable {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoTable {
            client,
            table: table.into(),
        }
    }

    /// A client from the default AWS configuration chain (environment,
    /// profile, instance/Lambda role; `AWS_ENDPOINT_URL` for LocalStack or moto).
    pub async fn from_env(table: String) -> Self {
        let config = aws_config::defaults(BehaviorVersion::latest()).load().await;
        DynamoTable::new(Client::new(&config), table)
    }

    fn key(pk: &str, sk: &str) -> Attributes {
        HashMap::from([
            (attr::PK.to_owned(), AttributeValue::S(pk.to_owned())),
            (attr::SK.to_owned(), AttributeValue::S(sk.to_owned())),
        ])
    }
}

/// A condition as DynamoDB expression parts.
struct Expr {
    expression: String,
    names: HashMap<String, String>,
    values: Option<Attributes>,
}

fn condition_expr(condition: Condition) -> Option<Expr> {
    let pk_name = || HashMap::from([("#pk".to_owned(), attr::PK.to_owned())]);
    let expr = match condition {
        Condition::None => return None,
        Condition::NotExists => Expr {
            expression: "attribute_not_exists(#pk)".into(),
            names: pk_name(),
            values: None,
        },
        Condition::Exists => Expr {
            expression: "attribute_exists(#pk)".into(),
            names: pk_name(),
            values: None,
        },
        Condition::VersionIs(v) => Expr {
            expression: "#ver = :ver".into(),
            names: HashMap::from([("#ver".to_owned(), attr::VERSION.to_owned())]),
            values: Some(HashMap::from([(
                ":ver".to_owned(),
                AttributeValue::N(v.to_string()),
            )])),
        },
    };
    Some(expr)
}

/// ConditionCheck needs an expression even when the condition is `None`.
fn always_true() -> Expr {
    Expr {
        expression: "attribute_exists(#pk) OR attribute_not_exists(#pk)".into(),
        names: HashMap::from([("#pk".to_owned(), attr::PK.to_owned())]),
        values: None,
    }
}

fn check_key(pk: &str, sk: &str) -> Result<(), StoreError> {
    if pk.is_empty() || sk.is_empty() {
        return Err(StoreError::Invalid("empty key attribute".into()));
    }
    if pk.len() > MAX_PK_BYTES || sk.len() > MAX_SK_BYTES {
        return Err(StoreError::Invalid(format!(
            "key too long ({} / {} bytes; at most {MAX_PK_BYTES} / {MAX_SK_BYTES})",
            pk.len(),
            sk.len()
        )));
    }
    Ok(())
}

/// The item as DynamoDB attributes.
fn to_attributes(item: &Item) -> Result<Attributes, StoreError> {
    check_key(&item.pk, &item.sk)?;
    if !item.body.is_object() {
        return Err(StoreError::Invalid(format!(
            "the body of {}/{} is not a JSON object",
            item.pk, item.sk
        )));
    }
    let invalid = |e: &dyn std::fmt::Display| {
        StoreError::Invalid(format!("body of {}/{}: {e}", item.pk, item.sk))
    };
    let body = item.body.to_value().map_err(|e| invalid(&e))?;
    let body: AttributeValue = serde_dynamo::to_attribute_value(&body).map_err(|e| invalid(&e))?;
    let mut map = DynamoTable::key(&item.pk, &item.sk);
    for index in Index::SECONDARY {
        let (pk_name, sk_name) = index.attrs();
        if let Some(key) = item.index_key(index) {
            check_key(&key.pk, &key.sk)?;
            map.insert(pk_name.to_owned(), AttributeValue::S(key.pk.clone()));
            map.insert(sk_name.to_owned(), AttributeValue::S(key.sk.clone()));
        }
    }
    map.insert(
        attr::VERSION.to_owned(),
        AttributeValue::N(item.version.to_string()),
    );
    if let Some(at) = item.expires_at {
        map.insert(attr::EXPIRES.to_owned(), AttributeValue::N(at.to_string()));
    }
    map.insert(attr::BODY.to_owned(), body);
    Ok(map)
}

fn string_attr(map: &Attributes, name: &str) -> Result<Option<String>, StoreError> {
    match map.get(name) {
        None => Ok(None),
        Some(AttributeValue::S(s)) => Ok(Some(s.clone())),
        Some(other) => Err(StoreError::Engine(format!(
            "attribute {name} is not a string: {other:?}"
        ))),
    }
}

fn required_string(map: &Attributes, name: &str) -> Result<String, StoreError> {
    string_attr(map, name)?
        .ok_or_else(|| StoreError::Engine(format!("item without the {name} attribute")))
}

fn number_attr<T: std::str::FromStr>(
    map: &Attributes,
    name: &str,
) -> Result<Option<T>, StoreError> {
    match map.get(name) {
        None => Ok(None),
        Some(AttributeValue::N(n)) => n
            .parse()
            .map(Some)
            .map_err(|_| StoreError::Engine(format!("attribute {name} out of range: {n}"))),
        Some(other) => Err(StoreError::Engine(format!(
            "attribute {name} is not a number: {other:?}"
        ))),
    }
}

pub(crate) fn from_attributes(mut map: Attributes) -> Result<Item, StoreError> {
    let pk = required_string(&map, attr::PK)?;
    let sk = required_string(&map, attr::SK)?;
    let pair = |pk_name: &str, sk_name: &str| -> Result<Option<IndexKey>, StoreError> {
        Ok(
            match (string_attr(&map, pk_name)?, string_attr(&map, sk_name)?) {
                (Some(pk), Some(sk)) => Some(IndexKey { pk, sk }),
                _ => None,
            },
        )
    };
    let gsi1 = pair(attr::GSI1PK, attr::GSI1SK)?;
    let gsi2 = pair(attr::GSI2PK, attr::GSI2SK)?;
    let gsi3 = pair(attr::GSI3PK, attr::GSI3SK)?;
    let gsi4 = pair(attr::GSI4PK, attr::GSI4SK)?;
    let gsi5 = pair(attr::GSI5PK, attr::GSI5SK)?;
    let version = number_attr(&map, attr::VERSION)?
        .ok_or_else(|| StoreError::Engine(format!("item {pk}/{sk} without a version")))?;
    let expires_at = number_attr(&map, attr::EXPIRES)?;
    let body = match map.remove(attr::BODY) {
        Some(AttributeValue::M(body)) => serde_dynamo::from_item::<_, serde_json::Value>(body)
            .map(Body::from)
            .map_err(|e| StoreError::Engine(format!("body of {pk}/{sk}: {e}")))?,
        other => {
            return Err(StoreError::Engine(format!(
                "item {pk}/{sk}: body is not a map: {other:?}"
            )))
        }
    };
    Ok(Item {
        pk,
        sk,
        gsi1,
        gsi2,
        gsi3,
        gsi4,
        gsi5,
        version,
        expires_at,
        body,
    })
}

/// Maps an SDK error by its error code.
fn sdk_error<E, R>(err: SdkError<E, R>, pk: &str, sk: &str) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    let code = err.as_service_error().and_then(|e| e.code());
    match code {
        Some("ConditionalCheckFailedException") => StoreError::ConditionFailed {
            pk: pk.to_owned(),
            sk: sk.to_owned(),
        },
        Some("ValidationException") => {
            StoreError::Invalid(format!("dynamodb: {}", DisplayErrorContext(&err)))
        }
        _ => StoreError::Engine(format!("dynamodb: {}", DisplayErrorContext(&err))),
    }
}

fn build_error(e: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Engine(format!("dynamodb request: {e}"))
}

#[async_trait]
impl Table for DynamoTable {
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        check_key(pk, sk)?;
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(DynamoTable::key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error(e, pk, sk))?;
        out.item.map(from_attributes).transpose()
    }

    async fn put(&self, item: Item, condition: Condition) -> Result<(), StoreError> {
        let attributes = to_attributes(&item)?;
        let mut req = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(attributes));
        if let Some(c) = condition_expr(condition) {
            req = req
                .condition_expression(c.expression)
                .set_expression_attribute_names(Some(c.names))
                .set_expression_attribute_values(c.values);
        }
        req.send()
            .await
            .map_err(|e| sdk_error(e, &item.pk, &item.sk))?;
        Ok(())
    }

    async fn delete(&self, pk: &str, sk: &str, condition: Condition) -> Result<(), StoreError> {
        check_key(pk, sk)?;
        let mut req = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(DynamoTable::key(pk, sk)));
        if let Some(c) = condition_expr(condition) {
            req = req
                .condition_expression(c.expression)
                .set_expression_attribute_names(Some(c.names))
                .set_expression_attribute_values(c.values);
        }
        req.send().await.map_err(|e| sdk_error(e, pk, sk))?;
        Ok(())
    }

    async fn transact(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        check_transaction(&ops)?;
        let mut items = Vec::with_capacity(ops.len());
        for op in &ops {
            let item = match op {
                WriteOp::Put { item, condition } => {
                    let c = condition_expr(*condition);
                    let put = Put::builder()
                        .table_name(&self.table)
                        .set_item(Some(to_attributes(item)?))
                        .set_condition_expression(c.as_ref().map(|c| c.expression.clone()))
                        .set_expression_attribute_names(c.as_ref().map(|c| c.names.clone()))
                        .set_expression_attribute_values(c.and_then(|c| c.values))
                        .build()
                        .map_err(build_error)?;
                    TransactWriteItem::builder().put(put).build()
                }
                WriteOp::Delete { pk, sk, condition } => {
                    check_key(pk, sk)?;
                    let c = condition_expr(*condition);
                    let delete = Delete::builder()
                        .table_name(&self.table)
                        .set_key(Some(DynamoTable::key(pk, sk)))
                        .set_condition_expression(c.as_ref().map(|c| c.expression.clone()))
                        .set_expression_attribute_names(c.as_ref().map(|c| c.names.clone()))
                        .set_expression_attribute_values(c.and_then(|c| c.values))
                        .build()
                        .map_err(build_error)?;
                    TransactWriteItem::builder().delete(delete).build()
                }
                WriteOp::Check { pk, sk, condition } => {
                    check_key(pk, sk)?;
                    let c = condition_expr(*condition).unwrap_or_else(always_true);
                    let check = ConditionCheck::builder()
                        .table_name(&self.table)
                        .set_key(Some(DynamoTable::key(pk, sk)))
                        .condition_expression(c.expression)
                        .set_expression_attribute_names(Some(c.names))
                        .set_expression_attribute_values(c.values)
                        .build()
                        .map_err(build_error)?;
                    TransactWriteItem::builder().condition_check(check).build()
                }
            };
            items.push(item);
        }
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) => {
                if let Some(TransactWriteItemsError::TransactionCanceledException(e)) =
                    err.as_service_error()
                {
                    let reasons = e.cancellation_reasons();
                    if let Some(invalid) =
                        reasons.iter().find(|r| r.code() == Some("ValidationError"))
                    {
                        return Err(StoreError::Invalid(format!(
                            "dynamodb: {}",
                            invalid
                                .message()
                                .unwrap_or("validation error in a transaction")
                        )));
                    }
                    let failed = reasons
                        .iter()
                        .enumerate()
                        .filter(|(_, r)| r.code() == Some("ConditionalCheckFailed"))
                        .map(|(i, _)| i)
                        .collect();
                    return Err(StoreError::TransactionCancelled { failed });
                }
                let (pk, sk) = ops[0].key();
                Err(sdk_error(err, pk, sk))
            }
        }
    }

    async fn query(&self, q: Query) -> Result<Page, StoreError> {
        if q.pk.is_empty() {
            return Err(StoreError::Invalid("empty partition key in query".into()));
        }
        let (pk_name, sk_name) = q.index.attrs();
        let mut names = HashMap::from([("#pk".to_owned(), pk_name.to_owned())]);
        let mut values = HashMap::from([(":pk".to_owned(), AttributeValue::S(q.pk.clone()))]);
        let mut key_condition = "#pk = :pk".to_owned();
        if let Some(prefix) = q.sk_prefix.as_deref().filter(|p| !p.is_empty()) {
            key_condition.push_str(" AND begins_with(#sk, :prefix)");
            names.insert("#sk".to_owned(), sk_name.to_owned());
            values.insert(":prefix".to_owned(), AttributeValue::S(prefix.to_owned()));
        }

        let mut start = match &q.after {
            None => None,
            Some(c) => {
                let mut key = DynamoTable::key(&c.pk, &c.sk);
                if q.index != Index::Primary {
                    let index_sk = c.index_sk.clone().ok_or_else(|| {
                        StoreError::Invalid(
                            "an index query cursor without the index sort key".into(),
                        )
                    })?;
                    key.insert(pk_name.to_owned(), AttributeValue::S(q.pk.clone()));
                    key.insert(sk_name.to_owned(), AttributeValue::S(index_sk));
                }
                Some(key)
            }
        };

        let limit = q.limit.map(|n| n.max(1) as usize);
        let mut items = Vec::new();
        // DynamoDB may stop a page early (1 MB): keep reading until the
        // limit is reached or the partition is exhausted.
        let next = loop {
            let remaining = limit.map(|n| i32::try_from(n - items.len()).unwrap_or(i32::MAX));
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .set_index_name(q.index.name().map(str::to_owned))
                .key_condition_expression(&key_condition)
                .set_expression_attribute_names(Some(names.clone()))
                .set_expression_attribute_values(Some(values.clone()))
                .scan_index_forward(q.forward)
                .set_limit(remaining)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| sdk_error(e, &q.pk, ""))?;
            for raw in out.items.unwrap_or_default() {
                items.push(from_attributes(raw)?);
            }
            match out.last_evaluated_key {
                Some(key) if limit.is_none_or(|n| items.len() < n) => start = Some(key),
                last => break last,
            }
        };
        let next = match next {
            None => None,
            Some(key) => Some(Cursor {
                pk: required_string(&key, attr::PK)?,
                sk: required_string(&key, attr::SK)?,
                index_sk: match q.index {
                    Index::Primary => None,
                    _ => Some(required_string(&key, sk_name)?),
                },
            }),
        };
        Ok(Page { items, next })
    }

    async fn get_many(&self, keys: &[(String, String)]) -> Result<Vec<Option<Item>>, StoreError> {
        for (pk, sk) in keys {
            check_key(pk, sk)?;
        }
        // BatchGetItem refuses a key twice in one request: ask each once.
        let mut unique: Vec<&(String, String)> = keys.iter().collect();
        unique.sort_unstable();
        unique.dedup();
        let mut found: HashMap<(String, String), Item> = HashMap::with_capacity(unique.len());
        for chunk in unique.chunks(MAX_BATCH_GET) {
            let mut wanted: Vec<Attributes> = chunk
                .iter()
                .map(|(pk, sk)| DynamoTable::key(pk, sk))
                .collect();
            // DynamoDB answers part of a request when it is throttled or
            // the answer would pass 16 MB: the rest comes back as
            // UnprocessedKeys, asked again after a growing pause.
            let mut attempt = 0u32;
            while !wanted.is_empty() {
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(std::mem::take(&mut wanted)))
                    .consistent_read(true)
                    .build()
                    .map_err(build_error)?;
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(|e| sdk_error(e, &chunk[0].0, &chunk[0].1))?;
                for raw in out
                    .responses
                    .and_then(|mut r| r.remove(&self.table))
                    .unwrap_or_default()
                {
                    let item = from_attributes(raw)?;
                    found.insert((item.pk.clone(), item.sk.clone()), item);
                }
                wanted = out
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(&self.table))
                    .map(|k| k.keys)
                    .unwrap_or_default();
                if !wanted.is_empty() {
                    attempt += 1;
                    if attempt > BATCH_GET_RETRIES {
                        return Err(StoreError::Engine(format!(
                            "dynamodb: {} keys still unprocessed after {BATCH_GET_RETRIES} retries",
                            wanted.len()
                        )));
                    }
                    let pause = 25u64 << attempt.min(6);
                    tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
                }
            }
        }
        Ok(keys.iter().map(|k| found.get(k).cloned()).collect())
    }

    async fn count(&self, index: Index, pk: &str) -> Result<u64, StoreError> {
        if pk.is_empty() {
            return Err(StoreError::Invalid("empty partition key in count".into()));
        }
        let (pk_name, _) = index.attrs();
        let mut total = 0u64;
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .set_index_name(index.name().map(str::to_owned))
                .key_condition_expression("#pk = :pk")
                .expression_attribute_names("#pk", pk_name)
                .expression_attribute_values(":pk", AttributeValue::S(pk.to_owned()))
                .select(Select::Count)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| sdk_error(e, pk, ""))?;
            total += u64::try_from(out.count).unwrap_or_default();
            match out.last_evaluated_key {
                Some(key) => start = Some(key),
                None => return Ok(total),
            }
        }
    }
}
