//! Identifiers as types. A claim id, a shop id, an order id, a customer id
//! and a refund id are all strings: as plain `String`s, a struct holding
//! several (a claim holds four) or a function taking two (an upload's
//! customer and shop) accepts them in any order. As types, a shop id
//! passed where a claim id is expected does not compile.
//!
//! They change nothing on the outside: each is `#[serde(transparent)]`, so
//! stored items, outbox events and API bodies hold the same plain strings
//! as before, and each reads as a `&str` (`Deref`, `AsRef`, `Borrow`), so
//! code building keys or messages from an id, or a function taking `&str`,
//! takes one as it is. (Such a function takes any id, so the protection is
//! where a field or parameter names the type.)
//!
//! An id is not checked when it is made, so there is no checked
//! constructor: stored items must load as they were written, and each use
//! case refuses a malformed id from outside in its own terms (a claim id
//! in a path that cannot exist is "not found", a bad shop id in a body is
//! an invalid request), with [`check_id`](super::order::check_id).

use serde::{Deserialize, Serialize};
use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        ///
        /// Serialized, and shown by `{:?}`, as the plain string; hashed,
        /// compared and ordered as the string is, so it can be looked up by
        /// `&str` in maps and sets.
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        /// As the string's (`"clm_1"`): logs and messages that show a
        /// struct holding ids read as they did before ids had types.
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                $name(s)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                $name(s.to_owned())
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }

        impl PartialEq<$name> for str {
            fn eq(&self, other: &$name) -> bool {
                self == other.0
            }
        }

        impl PartialEq<$name> for &str {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }

        impl PartialEq<$name> for String {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }
    };
}

id_type!(
    /// A claim (`clm_…`).
    ClaimId
);
id_type!(
    /// A shop: the tenant every order, claim and refund belongs to.
    ShopId
);
id_type!(
    /// An order, unique within its shop (the storefront's own number).
    OrderId
);
id_type!(
    /// A customer of a shop (the token's subject for customers).
    CustomerId
);
id_type!(
    /// A refund: our out-refund number (`RF…P1`), the providers'
    /// idempotency key.
    RefundId
);

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeSet, HashMap};

    #[test]
    fn serialized_as_the_plain_string() {
        let id = ClaimId::from("clm_1");
        assert_eq!(
            serde_json::to_value(&id).unwrap(),
            serde_json::json!("clm_1")
        );
        let back: ClaimId = serde_json::from_str("\"clm_1\"").unwrap();
        assert_eq!(back, id);
        assert!(serde_json::from_str::<ShopId>("{\"0\":\"s1\"}").is_err());
        assert!(serde_json::from_str::<ShopId>("1").is_err());

        #[derive(Serialize, Deserialize, PartialEq, Debug)]
        struct Item {
            shop_id: ShopId,
            order_id: Option<OrderId>,
        }
        let json = r#"{"shop_id":"s1","order_id":"o1"}"#;
        let item: Item = serde_json::from_str(json).unwrap();
        assert_eq!(item.shop_id, "s1");
        assert_eq!(serde_json::to_string(&item).unwrap(), json);
    }

    #[test]
    fn compares_with_strings_both_ways() {
        let owned = "shop-1".to_string();
        let id = ShopId::from(owned.clone());
        assert!(id == "shop-1");
        assert!(id == *"shop-1");
        assert!(id == owned);
        assert!("shop-1" == id);
        assert!(*"shop-1" == id);
        assert!(owned == id);
        assert!(id != "shop-2");
        assert!("shop-2" != id);
        let same = ShopId::from("shop-1");
        assert_eq!(id, same);
        let (a, b) = (CustomerId::from("a"), CustomerId::from("b"));
        assert!(a < b);
    }

    #[test]
    fn displays_and_reads_as_the_string() {
        let id = RefundId::from("RFclm1P1");
        assert_eq!(id.to_string(), "RFclm1P1");
        assert_eq!(format!("REFUND#{id}"), "REFUND#RFclm1P1");
        assert_eq!(format!("{id:?}"), "\"RFclm1P1\"");
        assert_eq!(id.as_str(), "RFclm1P1");
        assert_eq!(id.len(), 8);
        let as_ref: &str = id.as_ref();
        assert_eq!(as_ref, "RFclm1P1");
        let takes_str = |s: &str| s.to_owned();
        assert_eq!(takes_str(&id), "RFclm1P1");
        assert_eq!(String::from(id.clone()), "RFclm1P1");
        assert_eq!(id.into_string(), "RFclm1P1");
    }

    #[test]
    fn looked_up_by_str_in_maps_and_sets() {
        let mut m = HashMap::new();
        m.insert(OrderId::from("o1"), 1);
        assert_eq!(m.get("o1"), Some(&1));
        assert_eq!(m.get("o2"), None);
        let s: BTreeSet<ClaimId> = ["b", "a"].into_iter().map(ClaimId::from).collect();
        assert!(s.contains("a"));
        assert_eq!(s.iter().next().unwrap(), "a");
    }
}
