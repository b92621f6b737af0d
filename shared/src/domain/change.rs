//! The one shape of a state change: a use case loads aggregates, a domain
//! function changes them in place and returns a [`Change`] naming what else
//! happened, or refuses with a [`Refused`]; the repository commits it all
//! at once.

use super::claim::{ClaimError, ClaimEvent};
use super::events::OutboxEvent;
use super::ledger::LedgerError;
use super::money::MoneyError;
use super::refund::Refund;

/// What one decision produced besides the aggregates it was handed.
#[derive(Debug, Default)]
pub struct Change {
    /// New steps of the claim's timeline (already on it), published as
    /// events so the customer is told and consumers react.
    pub events: Vec<ClaimEvent>,
    /// Other events: inventory, payment requests.
    pub notices: Vec<OutboxEvent>,
    /// Refunds to send, each queued with its `refund.requested` event.
    pub refunds: Vec<Refund>,
    /// The order's ledger changed and is written too.
    pub ledger: bool,
}

impl Change {
    /// Steps only, with the ledger as it was.
    pub fn steps(events: Vec<ClaimEvent>) -> Self {
        Change {
            events,
            ..Change::default()
        }
    }

    /// Nothing happened (e.g. manual review of a claim already under
    /// review): nothing is written.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty() && self.notices.is_empty() && self.refunds.is_empty() && !self.ledger
    }

    /// This change followed by `then`.
    pub fn merge(&mut self, then: Change) {
        self.events.extend(then.events);
        self.notices.extend(then.notices);
        self.refunds.extend(then.refunds);
        self.ledger |= then.ledger;
    }
}

/// Why the domain refused a change: nothing is written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error(transparent)]
    Claim(#[from] ClaimError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The request does not fit (422): `code` says which rule.
    #[error("{message}")]
    Invalid { code: &'static str, message: String },
    /// Not in the claim's present state (409).
    #[error("{message}")]
    NotNow { code: &'static str, message: String },
    /// An amount that cannot be money in the claim's currency (400).
    #[error("{field}: {reason}")]
    Amount { field: String, reason: MoneyError },
}

impl Refused {
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        Refused::Invalid {
            code,
            message: message.into(),
        }
    }

    pub fn not_now(code: &'static str, message: impl Into<String>) -> Self {
        Refused::NotNow {
            code,
            message: message.into(),
        }
    }
}
