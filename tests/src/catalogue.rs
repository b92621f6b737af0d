//! The public event catalogue as published (`infra/asyncapi.yaml`): its
//! messages and a validator per message's payload schema, so tests check
//! events actually emitted (by the mapping, or received over HTTP) against
//! what the shop's developers read.

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;

/// The catalogue document and one validator per message.
pub struct Catalogue {
    pub doc: Value,
    validators: BTreeMap<String, jsonschema::Validator>,
}

impl Catalogue {
    /// Reads `infra/asyncapi.yaml` and compiles every message's payload
    /// schema (as JSON Schema draft-07, which the AsyncAPI default schema
    /// format extends); panics on a document that does not compile.
    pub fn load() -> Catalogue {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../infra/asyncapi.yaml");
        let text = std::fs::read_to_string(&path).expect("infra/asyncapi.yaml");
        let doc: Value = serde_yaml::from_str(&text).expect("the catalogue is YAML");
        let names: Vec<String> = doc["components"]["messages"]
            .as_object()
            .expect("components.messages")
            .keys()
            .cloned()
            .collect();
        let validators = names
            .into_iter()
            .map(|name| {
                // The whole document is the schema's root, so that the
                // payloads' `#/components/schemas/...` references resolve;
                // its root `$ref` picks the message's payload.
                let mut root = doc.clone();
                let obj = root.as_object_mut().expect("an object");
                obj.insert(
                    "$schema".into(),
                    json!("http://json-schema.org/draft-07/schema#"),
                );
                obj.insert(
                    "$ref".into(),
                    json!(format!("#/components/messages/{name}/payload")),
                );
                let v = jsonschema::draft7::new(&root)
                    .unwrap_or_else(|e| panic!("{name}'s payload schema: {e}"));
                (name, v)
            })
            .collect();
        Catalogue { doc, validators }
    }

    /// The message names (the public event types), sorted.
    pub fn messages(&self) -> Vec<String> {
        self.validators.keys().cloned().collect()
    }

    /// Checks an event against the schema of its `type`: every error, or
    /// that its type has no message.
    pub fn check(&self, event: &Value) -> Result<(), String> {
        let t = event["type"].as_str().unwrap_or_default();
        let v = self
            .validators
            .get(t)
            .ok_or_else(|| format!("no message {t:?} in the catalogue: {event}"))?;
        let errors: Vec<String> = v
            .iter_errors(event)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(format!("{t}: {} in {event}", errors.join("; ")))
        }
    }
}
