//! Refund execution: a refund created with its approval is sent to its
//! provider, and the provider's answer — in the call's response, a later
//! query or a webhook — is recorded once, in any order. Providers take our
//! out-refund number as their idempotency key, so a refund sent twice (a
//! crash between the call and the record, a redelivered message) moves
//! money once; recording is conditional on the version read, and
//! [`Refund::observe`](crate::domain::refund::Refund::observe) only moves
//! forward, so repeats and reordering change nothing.
//!
//! The submodules are private so that callers keep one path,
//! `app::refunds::X`, whichever file holds `X`.

mod balance;
mod execution;
mod export;
mod notifications;
mod reconciliation;
mod retry;
mod search;
mod view;

pub use balance::{balance, debit, BalanceView, CreditView, DebitRequest, DebitView};
pub use execution::{execute, on_event, record};
pub use export::export_month;
pub use notifications::{notified, Notified};
pub use reconciliation::{reconcile, Reconciled};
pub use retry::{retry_failed, RetryRequest};
pub use search::{search, RefundSearch, SearchPage, SEARCH_PAGE_SCAN};
pub use view::{refund_view, MerchantInfo, RefundView};
