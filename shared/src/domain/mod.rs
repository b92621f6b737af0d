//! The pure domain: types and rules, no I/O, no async, no AWS.

pub mod claim;
pub mod evidence;
pub mod ids;
pub mod ledger;
pub mod messages;
pub mod money;
pub mod order;
pub mod policy;
pub mod refund;
pub mod rejections;
pub mod returns;
pub mod rules;
pub mod tracking;
