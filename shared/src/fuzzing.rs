//! Property-based fuzzing of the parsers of untrusted input (webhooks,
//! partner pushes, rule sets, money): the runner every fuzz target uses and
//! the generators they share. Test-only.
//!
//! Each target runs `FUZZ_CASES` generated inputs (a quick default in the
//! ordinary test run; `tests/bench/fuzz.sh` sets a million) and prints how
//! many it ran, so the campaign's counts are the targets' own. A panic in a
//! parser fails the target with the smallest input proptest shrinks it to.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::Value;
use std::fmt::Debug;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Inputs per target: `FUZZ_CASES`, else `default`.
pub(crate) fn cases(default: u32) -> u32 {
    std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// The quick default of the ordinary test run.
pub(crate) const DEFAULT_CASES: u32 = 256;

#[cfg(feature = "providers")]
/// Inputs for a target that pays an RSA signature per input (milliseconds
/// each): a sample of the campaign, at least `min`.
pub(crate) fn signed_cases(min: u32) -> u32 {
    (cases(DEFAULT_CASES) / 500).max(min)
}

/// Runs `test` on `cases` inputs drawn from `strategy` (a fresh random seed
/// each run) and prints the count. A failure or a panic fails the test with
/// the shrunk input.
pub(crate) fn run<S>(
    name: &str,
    cases: u32,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) where
    S: Strategy,
    S::Value: Debug,
{
    let config = Config {
        cases,
        // Regressions are kept as named tests beside the parser instead.
        failure_persistence: None,
        max_shrink_iters: 4_096,
        ..Config::default()
    };
    let ran = AtomicU64::new(0);
    let started = Instant::now();
    let result = TestRunner::new(config).run(&strategy, |input| {
        ran.fetch_add(1, Ordering::Relaxed);
        test(input)
    });
    eprintln!(
        "fuzz {name}: {} inputs, {:.1} s, {}",
        ran.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64(),
        if result.is_ok() {
            "0 failures"
        } else {
            "FAILED"
        }
    );
    if let Err(e) = result {
        panic!("fuzz {name}: {e}");
    }
}

/// Tokens that break parsers: JSON punctuation, numbers at and past every
/// limit, escapes, control and multi-byte characters.
const TOKENS: &[&str] = &[
    "\"",
    "\\",
    "{",
    "}",
    "[",
    "]",
    ":",
    ",",
    "null",
    "true",
    "-",
    "0",
    "-0",
    ".",
    "1e400",
    "-1e400",
    "1E-400",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775809",
    "18446744073709551616",
    "79228162514264337593543950336",
    "0.000000000000000000000000000001",
    "99999999999999.99",
    "NaN",
    "Infinity",
    "\\u0000",
    "\\ud800",
    "\u{0}",
    "\u{7f}",
    "\u{feff}",
    "é",
    "退款",
    "🦀",
    "\u{10ffff}",
    "%",
    "%zz",
    "%E9",
    "+",
    "&",
    "=",
    "\n",
    "\r\n",
    " ",
    "+262143-12-31 23:59:59",
    "-262144-01-01 00:00:00",
    "9999-12-31 23:59:59",
    "0000-01-01 00:00:00",
];

/// One change to a byte string.
#[derive(Debug, Clone)]
pub(crate) enum Mutation {
    Truncate(prop::sample::Index),
    FlipBit(prop::sample::Index, u8),
    SetByte(prop::sample::Index, u8),
    Delete(prop::sample::Index, usize),
    Insert(prop::sample::Index, Vec<u8>),
    Token(prop::sample::Index, usize),
    Duplicate(prop::sample::Index, usize),
}

pub(crate) fn mutation() -> impl Strategy<Value = Mutation> {
    let i = any::<prop::sample::Index>;
    prop_oneof![
        i().prop_map(Mutation::Truncate),
        (i(), 0u8..8).prop_map(|(i, b)| Mutation::FlipBit(i, b)),
        (i(), any::<u8>()).prop_map(|(i, b)| Mutation::SetByte(i, b)),
        (i(), 1usize..16).prop_map(|(i, n)| Mutation::Delete(i, n)),
        (i(), prop::collection::vec(any::<u8>(), 1..8)).prop_map(|(i, b)| Mutation::Insert(i, b)),
        (i(), 0..TOKENS.len()).prop_map(|(i, t)| Mutation::Token(i, t)),
        (i(), 1usize..32).prop_map(|(i, n)| Mutation::Duplicate(i, n)),
    ]
}

/// Up to `most` mutations.
pub(crate) fn mutations(most: usize) -> impl Strategy<Value = Vec<Mutation>> {
    prop::collection::vec(mutation(), 0..=most)
}

/// `bytes` with `mutations` applied in order.
pub(crate) fn mutate(bytes: &[u8], mutations: &[Mutation]) -> Vec<u8> {
    let mut b = bytes.to_vec();
    for m in mutations {
        let at = |i: &prop::sample::Index, len: usize| i.index(len + 1);
        match m {
            Mutation::Truncate(i) => b.truncate(at(i, b.len())),
            Mutation::FlipBit(i, bit) if !b.is_empty() => {
                let k = i.index(b.len());
                b[k] ^= 1u8 << *bit;
            }
            Mutation::SetByte(i, v) if !b.is_empty() => {
                let k = i.index(b.len());
                b[k] = *v;
            }
            Mutation::Delete(i, n) => {
                let k = at(i, b.len());
                let end = (k + n).min(b.len());
                b.drain(k..end);
            }
            Mutation::Insert(i, bytes) => {
                let k = at(i, b.len());
                b.splice(k..k, bytes.iter().copied());
            }
            Mutation::Token(i, t) => {
                let k = at(i, b.len());
                b.splice(k..k, TOKENS[*t].bytes());
            }
            Mutation::Duplicate(i, n) => {
                let k = at(i, b.len());
                let end = (k + n).min(b.len());
                let piece = b[k..end].to_vec();
                b.splice(end..end, piece);
            }
            _ => {}
        }
    }
    b
}

/// Text that is `s` with `mutations` applied, lossily back to UTF-8 (for
/// parsers that take `&str`).
pub(crate) fn mutate_str(s: &str, mutations: &[Mutation]) -> String {
    String::from_utf8_lossy(&mutate(s.as_bytes(), mutations)).into_owned()
}

/// JSON values of every type and at the edges: huge and negative numbers,
/// floats, odd strings, deep nesting (past serde_json's recursion limit).
pub(crate) fn weird_json() -> impl Strategy<Value = Value> {
    let fixed = prop::sample::select(vec![
        Value::Null,
        Value::Bool(true),
        Value::from(i64::MIN),
        Value::from(u64::MAX),
        Value::from(0),
        Value::from(-1),
    ]);
    let leaf = prop_oneof![
        fixed,
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
        prop::sample::select(TOKENS).prop_map(Value::from),
        "[0-9]{1,30}(\\.[0-9]{0,30})?".prop_map(Value::from),
        "-?[0-9]{0,5}\\.?[0-9]{0,5}([eE][+-]?[0-9]{1,4})?".prop_map(Value::from),
    ];
    let nested = (0usize..100, any::<bool>()).prop_map(|(depth, arrays)| {
        let mut v = Value::Null;
        for _ in 0..depth {
            v = if arrays {
                Value::Array(vec![v])
            } else {
                serde_json::json!({ "a": v })
            };
        }
        v
    });
    let small = leaf.clone().prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{0,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    });
    prop_oneof![6 => leaf, 2 => small, 1 => nested]
}

/// A change to a JSON document: the `n`th node (pre-order, wrapping)
/// replaced, or removed from its object or array.
#[derive(Debug, Clone)]
pub(crate) enum JsonEdit {
    Replace(prop::sample::Index, Value),
    Remove(prop::sample::Index),
    /// A member added to the `n`th object (an unknown field, or a known one
    /// written twice in the text).
    Add(prop::sample::Index, String, Value),
}

pub(crate) fn json_edits(
    most: usize,
    names: &'static [&'static str],
) -> impl Strategy<Value = Vec<JsonEdit>> {
    let i = any::<prop::sample::Index>;
    let name = prop_oneof![
        prop::sample::select(names).prop_map(String::from),
        "[a-z_]{1,10}"
    ];
    let edit = prop_oneof![
        (i(), weird_json()).prop_map(|(i, v)| JsonEdit::Replace(i, v)),
        i().prop_map(JsonEdit::Remove),
        (i(), name, weird_json()).prop_map(|(i, k, v)| JsonEdit::Add(i, k, v)),
    ];
    prop::collection::vec(edit, 0..=most)
}

fn count(v: &Value) -> usize {
    1 + match v {
        Value::Array(a) => a.iter().map(count).sum(),
        Value::Object(o) => o.values().map(count).sum(),
        _ => 0,
    }
}

/// The `n`th node of `v` in pre-order.
fn nth(v: &mut Value, n: usize) -> Option<&mut Value> {
    if n == 0 {
        return Some(v);
    }
    let mut n = n - 1;
    let children: Vec<&mut Value> = match v {
        Value::Array(a) => a.iter_mut().collect(),
        Value::Object(o) => o.values_mut().collect(),
        _ => return None,
    };
    for c in children {
        let size = count(c);
        if n < size {
            return nth(c, n);
        }
        n -= size;
    }
    None
}

/// `v` with `edits` applied.
pub(crate) fn edit_json(v: &Value, edits: &[JsonEdit]) -> Value {
    let mut v = v.clone();
    for e in edits {
        let total = count(&v);
        match e {
            JsonEdit::Replace(i, with) => {
                if let Some(node) = nth(&mut v, i.index(total)) {
                    *node = with.clone();
                }
            }
            JsonEdit::Remove(i) => {
                // Removing the root leaves nothing to read: replace with null.
                if let Some(node) = nth(&mut v, i.index(total)) {
                    match node {
                        Value::Object(o) if !o.is_empty() => {
                            let k = o.keys().nth(i.index(o.len())).cloned();
                            if let Some(k) = k {
                                o.remove(&k);
                            }
                        }
                        Value::Array(a) if !a.is_empty() => {
                            a.remove(i.index(a.len()));
                        }
                        other => *other = Value::Null,
                    }
                }
            }
            JsonEdit::Add(i, k, with) => {
                if let Some(Value::Object(o)) = nth(&mut v, i.index(total)) {
                    o.insert(k.clone(), with.clone());
                }
            }
        }
    }
    v
}

/// The text of a JSON document after both kinds of change: structural
/// edits, then byte mutations of the text.
pub(crate) fn near_json(valid: &Value, edits: &[JsonEdit], bytes: &[Mutation]) -> Vec<u8> {
    let edited = edit_json(valid, edits);
    mutate(edited.to_string().as_bytes(), bytes)
}

/// Arbitrary bytes, short and long.
pub(crate) fn bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..64),
        prop::collection::vec(any::<u8>(), 0..2048),
    ]
}

/// One RSA 2048 key for every provider target (generation takes a while);
/// generated, never stored.
#[cfg(feature = "providers")]
pub(crate) fn rsa_key() -> &'static rsa::RsaPrivateKey {
    static KEY: std::sync::OnceLock<rsa::RsaPrivateKey> = std::sync::OnceLock::new();
    KEY.get_or_init(|| rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).expect("RSA key"))
}

#[cfg(feature = "providers")]
/// Base64 of 256 random bytes: the shape of an RSA 2048 signature that
/// does not verify.
pub(crate) fn forged_signature() -> impl Strategy<Value = String> {
    use base64::Engine;
    prop_oneof![
        4 => prop::collection::vec(any::<u8>(), 256..=256)
            .prop_map(|b| base64::engine::general_purpose::STANDARD.encode(b)),
        1 => prop::collection::vec(any::<u8>(), 0..300)
            .prop_map(|b| base64::engine::general_purpose::STANDARD.encode(b)),
        1 => ".{0,40}",
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_are_numbered_in_pre_order() {
        let mut v = serde_json::json!({"a": [1, 2], "b": {"c": 3}});
        assert_eq!(count(&v), 6);
        assert_eq!(nth(&mut v, 2).cloned(), Some(Value::from(1)));
        assert_eq!(nth(&mut v, 5).cloned(), Some(Value::from(3)));
        assert_eq!(nth(&mut v, 6), None);
    }
}
