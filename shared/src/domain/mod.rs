//! The pure domain: types and rules, no I/O, no async, no AWS.

pub mod appliance;
pub mod benefits;
pub mod bundle;
pub mod change;
pub mod claim;
pub mod crossborder;
pub mod dispute;
pub mod events;
pub mod evidence;
pub mod exchange;
pub mod fast_track;
pub mod filing;
pub mod fingerprint;
pub mod fresh;
pub mod ids;
pub mod inspection;
pub mod ledger;
pub mod messages;
pub mod money;
pub mod order;
pub mod points;
pub mod policy;
pub mod presale;
pub mod refund;
pub mod rejections;
pub mod returns;
pub mod review;
pub mod rules;
pub mod sla;
pub mod standing;
#[cfg(test)]
pub(crate) mod testkit;
pub mod tracking;
pub mod voucher;
pub mod wallet;
pub mod winback;
