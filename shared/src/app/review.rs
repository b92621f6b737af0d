//! Review: the shop's rules decide claims automatically; staff decide the
//! rest from their queue, one by one or in batches.

use super::*;

/// Rule evaluation, triggered by claim events.
pub async fn on_event(_s: &Services, _event: &OutboxEvent) -> Result<(), AppError> {
    Ok(())
}
