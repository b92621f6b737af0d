"""The README's tour, first part, through the generated Python client:
the storefront pushes order o-1001, Alice files a refund-only claim for one
T-shirt, the shop's default rules approve it and the sandbox refunds it;
she reads the claim back (completed, approved on its timeline) and her
inbox, and staff read the order's refundable amount and the desk queue.

Usage: tour.py BASE_URL STOREFRONT_TOKEN CUSTOMER_TOKEN STAFF_TOKEN
(the generated package `aftersales_client` importable). Prints what it
checked; exits non-zero with the reason when the API does not answer what
the README says.
"""

import datetime
import sys
import time

from aftersales_client import AuthenticatedClient
from aftersales_client.api.claims import get_claim, submit_claim
from aftersales_client.api.desk import list_desk_queue
from aftersales_client.api.inbox import list_inbox, mark_inbox_message_read
from aftersales_client.api.orders import get_order, put_order
from aftersales_client.models import (
    Claim,
    ClaimEvent,
    ClaimStatus,
    ClaimType,
    Currency,
    Fulfilment,
    FulfilmentState,
    InboxMessageRead,
    InboxPage,
    LineRequest,
    Order,
    OrderDraft,
    OrderLine,
    Payment,
    PaymentChannel,
    ProductKind,
    Queue,
    ReasonCode,
    SubmitClaim,
)

PATIENCE_S = 45


def fail(why: str) -> None:
    print(f"tour: {why}", file=sys.stderr)
    sys.exit(1)


def parsed(response, kind, what: str):
    """The parsed body of `response`, which must be a `kind`."""
    if not isinstance(response.parsed, kind):
        fail(f"{what}: HTTP {int(response.status_code)}, expected a {kind.__name__}: {response.content!r}")
    return response.parsed


def utc(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


base, sf_token, alice_token, staff_token = sys.argv[1:5]
storefront = AuthenticatedClient(base_url=base, token=sf_token)
alice = AuthenticatedClient(base_url=base, token=alice_token)
staff = AuthenticatedClient(base_url=base, token=staff_token)

# The storefront pushes the order: 206.00 refundable.
draft = OrderDraft(
    customer_id="alice",
    customer_phone="+8613800138000",
    currency=Currency.CNY,
    placed_at=utc("2026-11-20T08:00:00Z"),
    lines=[
        OrderLine(
            line_id="L1", sku="TEE-M", title="T-shirt", kind=ProductKind.PHYSICAL, quantity=2, unit_price="99.00"
        )
    ],
    shipping_fee="8.00",
    payments=[
        Payment(
            payment_id="P1",
            channel=PaymentChannel.WECHAT_PAY,
            provider_txn_id="4200000001",
            amount="206.00",
            paid_at=utc("2026-11-20T08:01:00Z"),
        )
    ],
    fulfilment=Fulfilment(state=FulfilmentState.PAID_UNSHIPPED),
)
order = parsed(put_order.sync_detailed("shop-1", "o-1001", client=storefront, body=draft), Order, "putOrder")
if order.refundable.amount != "206.00":
    fail(f"putOrder: refundable {order.refundable.amount}, the README says 206.00")
print(f"order o-1001 stored, refundable {order.refundable.amount} {order.refundable.currency.value}")

# Alice asks for her money back for one T-shirt; the same Idempotency-Key
# gives the same claim.
request = SubmitClaim(
    shop_id="shop-1",
    order_id="o-1001",
    type_=ClaimType.REFUND_ONLY,
    reason=ReasonCode.NO_LONGER_WANTED,
    description="Ordered twice by mistake",
    lines=[LineRequest(line_id="L1", quantity=1)],
)
claim = parsed(
    submit_claim.sync_detailed(client=alice, body=request, idempotency_key="alice-o-1001-1"), Claim, "submitClaim"
)
again = parsed(
    submit_claim.sync_detailed(client=alice, body=request, idempotency_key="alice-o-1001-1"), Claim, "submitClaim again"
)
if again.claim_id != claim.claim_id:
    fail(f"submitClaim: the same Idempotency-Key made another claim ({claim.claim_id}, {again.claim_id})")
if claim.requested_amount.amount != "103.00":
    fail(f"submitClaim: requested {claim.requested_amount.amount}, the README says 103.00")
print(f"claim {claim.claim_id} filed for {claim.requested_amount.amount}")

# The rules approve it and the sandbox refunds it: completed, with the
# README's timeline.
want = [
    ClaimEvent.SUBMITTED,
    ClaimEvent.APPROVED,
    ClaimEvent.REFUND_STARTED,
    ClaimEvent.REFUND_SENT,
    ClaimEvent.REFUND_ARRIVED,
    ClaimEvent.REFUND_SUCCEEDED,
]
deadline = time.monotonic() + PATIENCE_S
while True:
    claim = parsed(get_claim.sync_detailed(claim.claim_id, client=alice), Claim, "getClaim")
    events = [entry.event for entry in claim.timeline]
    if claim.status == ClaimStatus.COMPLETED and events == want:
        break
    if time.monotonic() > deadline:
        fail(f"getClaim: {claim.status.value} with {[e.value for e in events]} after {PATIENCE_S} s")
    time.sleep(0.25)
print(f"claim {claim.claim_id} {claim.status.value}: {' → '.join(e.value for e in events)}")

order = parsed(get_order.sync_detailed("shop-1", "o-1001", client=staff), Order, "getOrder")
if order.refundable.amount != "103.00":
    fail(f"getOrder: refundable {order.refundable.amount}, the README says 103.00")
print(f"order o-1001 refundable {order.refundable.amount}")

# Every step is a message in Alice's inbox, newest first.
deadline = time.monotonic() + PATIENCE_S
while True:
    inbox = parsed(list_inbox.sync_detailed(client=alice), InboxPage, "listInbox")
    if inbox.unread == 6:
        break
    if time.monotonic() > deadline:
        fail(f"listInbox: {inbox.unread} unread after {PATIENCE_S} s, the README says 6")
    time.sleep(0.25)
newest = inbox.messages[0]
read = parsed(
    mark_inbox_message_read.sync_detailed(newest.message_id, client=alice), InboxMessageRead, "markInboxMessageRead"
)
if read.unread != 5:
    fail(f"markInboxMessageRead: {read.unread} unread, the README says 5")
print(f"inbox: 6 unread, 5 after reading {newest.event}")

# The desk queue parses (nothing waits: the rules decided).
queue = parsed(list_desk_queue.sync_detailed("shop-1", client=staff), Queue, "listDeskQueue")
print(f"desk queue: {len(queue.claims)} waiting")
print("tour ok")
