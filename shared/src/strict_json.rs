//! Partners' signed JSON read strictly: well-formed as a whole, and an
//! object wherever an object is meant.
//!
//! serde's derived structs also take a JSON array (fields by position) and
//! skip an unknown field's string without checking its escapes, so a
//! document a JSON reader refuses, or reads otherwise, could still be read
//! as a refund notice. What a partner signed must mean what it says to any
//! reader (the fuzz targets beside the parsers check exactly that).

use serde::de::{DeserializeOwned, Deserializer, Error as _};
use serde::Deserialize;
use serde_json::Value;

/// `bytes` as a `T`, from a JSON object only.
pub fn from_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, serde_json::Error> {
    from_value(serde_json::from_slice(bytes)?)
}

/// `text` as a `T`, from a JSON object only.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, serde_json::Error> {
    from_value(serde_json::from_str(text)?)
}

fn from_value<T: DeserializeOwned>(v: Value) -> Result<T, serde_json::Error> {
    match v {
        Value::Object(_) => serde_json::from_value(v),
        other => Err(serde_json::Error::custom(format!(
            "expected a JSON object, found {}",
            kind(&other)
        ))),
    }
}

/// For `#[serde(default, deserialize_with = "strict_json::object")]`: an
/// optional field that must be an object when present (`null` is absent).
pub fn object<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(v @ Value::Object(_)) => serde_json::from_value(v)
            .map(Some)
            .map_err(D::Error::custom),
        Some(other) => Err(D::Error::custom(format!(
            "expected a JSON object, found {}",
            kind(&other)
        ))),
    }
}

/// How a JSON value's type is named in error messages ("an array").
pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Amount {
        refund: i64,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Notice {
        id: String,
        #[serde(default, deserialize_with = "object")]
        amount: Option<Amount>,
    }

    #[test]
    fn objects_are_read_as_serde_would() {
        let n: Notice = from_str(r#"{"id": "a", "amount": {"refund": 5}, "x": 1}"#).unwrap();
        assert_eq!(n.amount, Some(Amount { refund: 5 }));
        let n: Notice = from_slice(br#"{"id": "a", "amount": null}"#).unwrap();
        assert_eq!(n.amount, None);
        let n: Notice = from_slice(br#"{"id": "a"}"#).unwrap();
        assert_eq!(n.amount, None);
    }

    #[test]
    fn arrays_in_place_of_objects_are_refused() {
        // serde alone reads an array by position.
        assert_eq!(
            serde_json::from_str::<Amount>("[7]").unwrap(),
            Amount { refund: 7 }
        );
        let e = from_str::<Amount>("[7]").unwrap_err();
        assert!(e.to_string().contains("found an array"), "{e}");
        let e = from_str::<Notice>(r#"{"id": "a", "amount": [7]}"#).unwrap_err();
        assert!(e.to_string().contains("found an array"), "{e}");
    }

    #[test]
    fn what_serde_skips_unchecked_is_refused() {
        let deep = format!(
            r#"{{"id": "a", "x": {}1{}}}"#,
            "[".repeat(200),
            "]".repeat(200)
        );
        for text in [r#"{"id": "a", "x": "\ud800"}"#, &deep] {
            // A lone surrogate, nesting past the recursion limit: serde
            // skips an unknown field's value without reading it.
            assert!(serde_json::from_str::<Notice>(text).is_ok(), "{text}");
            assert!(from_str::<Notice>(text).is_err(), "{text}");
        }
    }
}
