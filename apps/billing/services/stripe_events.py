"""Stripe webhooks: verified intake, exactly-once processing, the event handlers.

Intake (``receive_stripe_webhook``, the ``POST /webhooks/stripe/`` view):
``stripe.Webhook.construct_event`` checks ``Stripe-Signature`` on the raw
body with ``STRIPE_WEBHOOK_SECRET`` and a 300 s tolerance. A bad or stale
signature is recorded as an invalid attempt (``signature_valid=False``, its
own ``invalid:<uuid>`` id, status ignored, no payload) and answered 400;
nothing is processed. A verified event is INSERTED first under the unique
(source, external_id = event id): the insert is the check, so a duplicate
delivery — even a concurrent one — hits the constraint, is answered 200
``duplicate`` and is not processed again. ``process_stripe_event`` is
enqueued after commit.

Processing (``process_stripe_event``): the row is locked (``FOR UPDATE SKIP
LOCKED``) and only a ``received`` row is handled; its handler re-fetches the
object from Stripe (the event body is never trusted for state) and writes
under the account's lock. Stripe being down leaves the row ``received`` with
``attempts`` + 1 and the task retries with backoff; after
``STRIPE_EVENT_MAX_ATTEMPTS`` it is ``failed`` (staff may reprocess).

Ordering: each mirror keeps the Stripe time (``event.created``) of the state
applied last (``subscription_synced_at``, ``connect_synced_at``,
``synced_at``); an older event is ``ignored`` as stale and never regresses
it. Since handlers re-fetch, the newest state wins whichever event lands last.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import stripe
from django.conf import settings
from django.db import DataError, transaction
from django.utils import timezone

from apps.core import parsers
from apps.core.exceptions import ValidationFailed
from apps.core.ids import uuid7
from apps.core.models import InboundWebhook

from ..models import (
    BillingCheckoutSession,
    BillingInvoice,
    BillingPlan,
    BillingStripeAccount,
    CheckoutKind,
    CheckoutStatus,
    ConnectPayout,
    CreditKind,
    PlanCode,
    SubscriptionStatus,
)
from ..stripe_client import (
    StripeNotConfigured,
    StripeObjectMissing,
    StripeUnavailable,
    as_dict,
    call,
    stripe_client,
)
from ..stripe_models import STRIPE_STATUS_MAP
from . import credits
from .stripe_accounts import free_allowance_micros, payment_method_hint

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "Stripe-Signature"
_KEPT_HEADERS = ("Content-Type", "User-Agent", SIGNATURE_HEADER)
SOURCE = InboundWebhook.Source.STRIPE
Status = InboundWebhook.Status


class InvalidSignature(ValidationFailed):
    default_code = "invalid_signature"
    default_message = "Invalid or expired Stripe-Signature."


# --- intake ------------------------------------------------------------------------------


def _record_invalid(headers: Any, reason: str) -> None:
    InboundWebhook.objects.create(
        source=SOURCE,
        external_id=f"invalid:{uuid7()}",
        headers={
            name: headers.get(name)[:500] for name in ("Content-Type", "User-Agent") if headers.get(name)
        },
        payload={},
        signature_valid=False,
        status=Status.IGNORED,
        error=reason,
        processed_at=timezone.now(),
    )


def _customer_ref(obj: dict, event_type: str) -> str | None:
    if event_type.startswith("customer.") and obj.get("object") == "customer":
        return obj.get("id")
    customer = obj.get("customer")
    if isinstance(customer, dict):
        customer = customer.get("id")
    return customer if isinstance(customer, str) else None


def _account_of_event(payload: dict) -> BillingStripeAccount | None:
    obj = (payload.get("data") or {}).get("object") or {}
    if not isinstance(obj, dict):
        return None
    event_type = str(payload.get("type") or "")
    connect = payload.get("account")
    if event_type == "account.updated" and not connect:
        connect = obj.get("id")
    if isinstance(connect, str) and connect:
        return BillingStripeAccount.objects.filter(stripe_connect_account_id=connect).first()
    customer = _customer_ref(obj, event_type)
    if customer:
        return BillingStripeAccount.objects.filter(stripe_customer_id=customer).first()
    account_id = (
        (obj.get("metadata") or {}).get("account_id") if isinstance(obj.get("metadata"), dict) else None
    )
    try:
        return (
            BillingStripeAccount.objects.filter(pk=uuid.UUID(str(account_id))).first() if account_id else None
        )
    except ValueError:
        return None


def receive_stripe_webhook(*, body: bytes, headers: Any) -> tuple[Any, str]:
    """Verify, record once, enqueue. Returns (row id or None, "accepted" | "duplicate").

    The hot path is the signature check on the raw body, one JSON parse, one ``INSERT … ON
    CONFLICT DO NOTHING RETURNING id`` (``InboundWebhook.insert_once``) and the enqueue after
    commit: no ORM model, no exception for a duplicate, no other query (the network is set by
    the handler, which looks the account up anyway).
    """
    secret = settings.STRIPE_WEBHOOK_SECRET
    if not secret:
        raise StripeNotConfigured()
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationFailed("The body must be a JSON Stripe event.", code="invalid_json") from None
    try:
        stripe.WebhookSignature.verify_header(
            text, headers.get(SIGNATURE_HEADER), secret, settings.STRIPE_WEBHOOK_TOLERANCE_SECONDS
        )
    except stripe.SignatureVerificationError:
        _record_invalid(headers, "bad or stale signature")
        raise InvalidSignature() from None
    try:
        payload = parsers.loads(text)
    except parsers.UnsafeJSON as exc:
        # signed, but not JSON (or too deep / too large)
        raise ValidationFailed(exc.message, code=exc.code) from None
    event_id = payload.get("id") if isinstance(payload, dict) else None
    if not isinstance(event_id, str) or not event_id.startswith("evt_") or len(event_id) > 255:
        raise ValidationFailed("Not a Stripe event (no evt_ id).", field="id", code="invalid_event")
    if not isinstance(payload.get("type"), str) or not isinstance(payload.get("created"), int):
        raise ValidationFailed("Not a Stripe event (type, created).", field="type", code="invalid_event")
    kept = {name: headers.get(name)[:500] for name in _KEPT_HEADERS if headers.get(name)}
    try:
        if transaction.get_autocommit():  # the statement is its own transaction
            webhook_id = InboundWebhook.insert_once(
                source=SOURCE, external_id=event_id, payload_json=text, headers=kept
            )
        else:  # inside a caller's transaction a refused value must not break it
            with transaction.atomic():
                webhook_id = InboundWebhook.insert_once(
                    source=SOURCE, external_id=event_id, payload_json=text, headers=kept
                )
    except DataError:  # valid JSON PostgreSQL will not store (a \u0000 escape)
        raise ValidationFailed(
            "The event holds a value that cannot be stored.", code="invalid_json"
        ) from None
    if webhook_id is None:
        return None, "duplicate"
    transaction.on_commit(lambda: enqueue_event(webhook_id))
    return webhook_id, "accepted"


def enqueue_event(webhook_id: Any) -> None:
    """Hand one stored row to ``process_stripe_event`` (after commit).

    With a broker, the id goes to this process's publisher thread, which sends the ids that
    gathered meanwhile as ONE ``process_stripe_events`` message through one reused producer:
    the request thread does no broker I/O and the per-message cost is shared by a batch.
    The row is the outbox — an id lost with the process (a crash before the publish) is
    re-sent by ``retry_stripe_events``. Eager Celery (no broker) runs the task inline.
    """
    from .. import tasks

    if tasks.process_stripe_event.app.conf.task_always_eager:
        tasks.process_stripe_event.delay(str(webhook_id))
        return
    _publisher.put(str(webhook_id))


class _Publisher:
    """One daemon thread per process: drains queued ids into batched Celery messages."""

    MAX_BATCH = 200
    LINGER_SECONDS = 0.002  # after the first id, wait this long for others to join its message

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._pid: int | None = None

    def put(self, webhook_id: str) -> None:
        if self._pid != os.getpid():  # first use in this process (or after a fork)
            with self._lock:
                if self._pid != os.getpid():
                    self._queue = queue.SimpleQueue()
                    threading.Thread(target=self._run, name="stripe-event-publisher", daemon=True).start()
                    self._pid = os.getpid()
        self._queue.put(webhook_id)

    def _run(self) -> None:
        from .. import tasks

        while True:
            ids = [self._queue.get()]
            time.sleep(self.LINGER_SECONDS)
            while len(ids) < self.MAX_BATCH:
                try:
                    ids.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                tasks.process_stripe_events.delay(ids)
            except Exception:  # the rows stay "received": retry_stripe_events sends them again
                logger.exception("stripe: could not enqueue %d event(s)", len(ids))


_publisher = _Publisher()


# --- processing --------------------------------------------------------------------------

RETRY = "retry"


def process_stripe_event(*, webhook_id: Any) -> str:
    """Handle one recorded event once. Returns its new status, "skipped", or ``RETRY``."""
    with transaction.atomic():
        webhook = (
            InboundWebhook.objects.select_for_update(skip_locked=True)
            .filter(pk=webhook_id, source=SOURCE, status=Status.RECEIVED)
            .first()
        )
        if webhook is None:
            return "skipped"
        webhook.attempts += 1
        if webhook.network_id is None:
            account = _account_of_event(webhook.payload)
            webhook.network_id = account.network_id if account else None
        try:
            with transaction.atomic():
                outcome, error = handle_event(webhook.payload)
        except StripeUnavailable as exc:
            webhook.error = f"{type(exc).__name__}: {exc.message}"[:2000]
            if webhook.attempts >= settings.STRIPE_EVENT_MAX_ATTEMPTS:
                webhook.status = Status.FAILED
                webhook.save(update_fields=["attempts", "error", "status", "network", "updated_at"])
                return Status.FAILED
            webhook.save(update_fields=["attempts", "error", "network", "updated_at"])
            return RETRY
        webhook.status, webhook.error, webhook.processed_at = outcome, error, timezone.now()
        webhook.save(update_fields=["attempts", "status", "error", "processed_at", "network", "updated_at"])
        return outcome


def reprocess(*, webhook: InboundWebhook, actor: Any) -> None:
    """Staff: put a failed/ignored verified event back to ``received`` and enqueue it."""
    if not getattr(actor, "is_staff", False) or not webhook.signature_valid:
        return
    updated = InboundWebhook.objects.filter(
        pk=webhook.pk, status__in=[Status.FAILED, Status.IGNORED], signature_valid=True
    ).update(status=Status.RECEIVED, error="", updated_at=timezone.now())
    if updated:
        from .. import tasks

        transaction.on_commit(lambda: tasks.process_stripe_event.delay(str(webhook.pk)))


def _at(ts: Any) -> datetime | None:
    return datetime.fromtimestamp(int(ts), tz=UTC) if isinstance(ts, int | float) and ts else None


def handle_event(payload: dict) -> tuple[str, str]:
    event_type = payload.get("type", "")
    handler = HANDLERS.get(event_type)
    if handler is None:
        return Status.IGNORED, f"unhandled event type {event_type}"
    obj = (payload.get("data") or {}).get("object") or {}
    return handler(
        payload, obj if isinstance(obj, dict) else {}, _at(payload.get("created")) or timezone.now()
    )


def _lock_account(account_id: Any) -> BillingStripeAccount:
    return BillingStripeAccount.objects.select_for_update().get(pk=account_id)


def _price_plan(sub: dict) -> tuple[BillingPlan | None, int]:
    items = ((sub.get("items") or {}).get("data")) or []
    first = items[0] if items else {}
    price = (
        (first.get("price") or {}).get("id") if isinstance(first.get("price"), dict) else first.get("price")
    )
    quantity = int(first.get("quantity") or 1)
    plan = BillingPlan.objects.filter(stripe_price_id=price).first() if price else None
    if plan is None:
        code = (sub.get("metadata") or {}).get("plan")
        plan = BillingPlan.objects.filter(code=code).first() if code else None
    return plan, quantity


def apply_subscription(*, account_id: Any, sub: dict, at: datetime) -> tuple[str, str]:
    """Mirror a (re-fetched) subscription onto the account unless a newer state was applied."""
    account = _lock_account(account_id)
    if account.subscription_synced_at and at < account.subscription_synced_at:
        return Status.IGNORED, "stale: a newer subscription state was applied"
    if account.stripe_subscription_id and sub.get("id") != account.stripe_subscription_id:
        live = account.subscription_status in (SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING)
        if live and sub.get("status") not in ("active", "trialing"):
            return Status.IGNORED, "another subscription of this customer"
    raw_status = str(sub.get("status") or "")
    status = STRIPE_STATUS_MAP.get(raw_status, raw_status)
    if status not in SubscriptionStatus.values:
        status = SubscriptionStatus.INCOMPLETE
    plan, quantity = _price_plan(sub)
    items = ((sub.get("items") or {}).get("data")) or [{}]
    period_end = sub.get("current_period_end") or items[0].get("current_period_end")
    account.stripe_subscription_id = sub.get("id")
    account.subscription_status = status
    account.cancel_at_period_end = bool(sub.get("cancel_at_period_end"))
    account.current_period_end_at = _at(period_end)
    if status == SubscriptionStatus.CANCELED:
        account.plan = PlanCode.FREE
        account.seats = 1
        account.included_ai_micros = free_allowance_micros()
    elif plan is not None:
        account.plan = plan.code
        account.seats = max(quantity, 1) if plan.per_seat else 1
        account.included_ai_micros = plan.included_ai_micros * (account.seats if plan.per_seat else 1)
    hint = payment_method_hint(sub.get("default_payment_method"))
    if hint:
        account.payment_method_hint = hint
    account.subscription_synced_at = at
    account.save()
    return Status.PROCESSED, ""


def _retrieve(service: Any, object_id: str, options: dict | None = None) -> dict:
    return as_dict(
        call(service.retrieve, object_id, None, options) if options else call(service.retrieve, object_id)
    )


def _on_subscription(payload: dict, obj: dict, at: datetime) -> tuple[str, str]:
    account = _account_of_event(payload)
    if account is None:
        return Status.IGNORED, "unknown customer"
    try:
        sub = _retrieve(stripe_client().v1.subscriptions, obj.get("id", ""))
    except StripeObjectMissing:
        if payload.get("type") != "customer.subscription.deleted":
            return Status.IGNORED, "subscription not found at Stripe"
        sub = {**obj, "status": "canceled"}
    return apply_subscription(account_id=account.pk, sub=sub, at=at)


def _on_checkout_completed(payload: dict, obj: dict, at: datetime) -> tuple[str, str]:
    session = _retrieve(stripe_client().v1.checkout.sessions, obj.get("id", ""))
    metadata = session.get("metadata") or {}
    if metadata.get("kind") == "bounty_deposit":
        return _bounty_deposit(payload, session)
    checkout = BillingCheckoutSession.objects.filter(stripe_session_id=session.get("id")).first()
    if checkout is None and metadata.get("checkout_id"):
        try:
            checkout = BillingCheckoutSession.objects.filter(pk=uuid.UUID(metadata["checkout_id"])).first()
        except ValueError:
            checkout = None
    if checkout is None:
        return Status.IGNORED, "unknown checkout session"
    if session.get("status") != "complete":
        return Status.IGNORED, f"checkout session is {session.get('status')}"
    BillingCheckoutSession.objects.filter(pk=checkout.pk, status=CheckoutStatus.OPEN).update(
        status=CheckoutStatus.COMPLETED, completed_at=timezone.now(), updated_at=timezone.now()
    )
    if checkout.kind == CheckoutKind.CREDITS:
        if session.get("payment_status") != "paid":
            return Status.IGNORED, "payment not settled yet"
        amount = int(session.get("amount_total") or checkout.amount_minor)
        credits.post_credit(
            account=checkout.account_id,
            amount_minor=amount,
            kind=CreditKind.TOPUP,
            idempotency_key=f"checkout:{checkout.pk}",
            external_ref=str(session.get("payment_intent") or session.get("id")),
            memo="credit top-up (Checkout)",
            actor=checkout.created_by,
        )
        return Status.PROCESSED, ""
    sub_id = session.get("subscription")
    if isinstance(sub_id, dict):
        sub_id = sub_id.get("id")
    if not sub_id:
        return Status.IGNORED, "no subscription on the session"
    sub = _retrieve(stripe_client().v1.subscriptions, sub_id)
    return apply_subscription(account_id=checkout.account_id, sub=sub, at=at)


def _bounty_deposit(payload: dict, session: dict) -> tuple[str, str]:
    try:
        from apps.bounties.services import record_stripe_deposit  # type: ignore[attr-defined]
    except ImportError:
        return Status.IGNORED, "bounty deposits are not handled yet"
    record_stripe_deposit(event_id=payload["id"], session=session)
    return Status.PROCESSED, ""


def _billing_recipients(account: BillingStripeAccount) -> list[Any]:
    if not account.owner_organization_id:
        return [account.owner_user] if account.owner_user_id else []
    from apps.organizations.models import OrganizationMember

    members = OrganizationMember.objects.filter(
        organization_id=account.owner_organization_id, status="active", role__in=["owner", "billing"]
    ).select_related("user")
    return [m.user for m in members if m.user is not None and not m.user.is_ai]


def _on_invoice(payload: dict, obj: dict, at: datetime) -> tuple[str, str]:
    account = _account_of_event(payload)
    if account is None:
        return Status.IGNORED, "unknown customer"
    invoice = _retrieve(stripe_client().v1.invoices, obj.get("id", ""))
    row = BillingInvoice.objects.select_for_update().filter(stripe_invoice_id=invoice.get("id")).first()
    if row is not None and row.synced_at and at < row.synced_at:
        return Status.IGNORED, "stale: a newer invoice state was applied"
    failed = payload.get("type") == "invoice.payment_failed"
    values = {
        "network_id": account.network_id,
        "account": account,
        "number": str(invoice.get("number") or "")[:64],
        "status": str(invoice.get("status") or "")[:20],
        "amount_due_minor": int(invoice.get("amount_due") or 0),
        "amount_paid_minor": int(invoice.get("amount_paid") or 0),
        "currency": str(invoice.get("currency") or "usd")[:3],
        "hosted_invoice_url": str(invoice.get("hosted_invoice_url") or "")[:2000],
        "period_start_at": _at(invoice.get("period_start")),
        "period_end_at": _at(invoice.get("period_end")),
        "synced_at": at,
    }
    if failed:
        values["payment_failed_at"] = at
    elif invoice.get("status") == "paid":
        values["paid_at"] = _at((invoice.get("status_transitions") or {}).get("paid_at")) or at
    row, _ = BillingInvoice.objects.update_or_create(stripe_invoice_id=invoice["id"], defaults=values)
    if failed:
        _notify_payment_failed(account, row)
    return Status.PROCESSED, ""


def _notify_payment_failed(account: BillingStripeAccount, invoice: BillingInvoice) -> None:
    from apps.core.mail import send_mail_on_commit
    from apps.inbox.services import deliver_inbox_item

    amount = f"{invoice.amount_due_minor / 100:.2f} {invoice.currency.upper()}"
    for user in _billing_recipients(account):
        deliver_inbox_item(
            recipient=user,
            kind="system",
            target_type="billing.invoice",
            target_id=invoice.pk,
            title="A payment failed",
            body=f"The payment of invoice {invoice.number or invoice.stripe_invoice_id} ({amount}) failed.",
            data={
                "account": str(account.pk),
                "invoice": str(invoice.pk),
                "amount_due_minor": invoice.amount_due_minor,
            },
            requires_action=True,
        )
        if user.email:
            send_mail_on_commit(
                to=user.email,
                template="billing/emails/payment_failed",
                context={"user": user, "invoice": invoice, "amount": amount, "account": account},
                network=account.network,
            )


def _on_connect_account(payload: dict, obj: dict, at: datetime) -> tuple[str, str]:
    account = _account_of_event(payload)
    if account is None:
        return Status.IGNORED, "unknown connect account"
    connect = _retrieve(stripe_client().v1.accounts, account.stripe_connect_account_id)
    account = _lock_account(account.pk)
    if account.connect_synced_at and at < account.connect_synced_at:
        return Status.IGNORED, "stale: a newer account state was applied"
    requirements = connect.get("requirements") or {}
    account.connect_charges_enabled = bool(connect.get("charges_enabled"))
    account.connect_payouts_enabled = bool(connect.get("payouts_enabled"))
    account.connect_details_submitted = bool(connect.get("details_submitted"))
    account.connect_requirements_due = [str(r)[:200] for r in (requirements.get("currently_due") or [])][:100]
    account.connect_synced_at = at
    account.save(
        update_fields=[
            "connect_charges_enabled",
            "connect_payouts_enabled",
            "connect_details_submitted",
            "connect_requirements_due",
            "connect_synced_at",
            "updated_at",
        ]
    )
    return Status.PROCESSED, ""


def _on_payout(payload: dict, obj: dict, at: datetime) -> tuple[str, str]:
    account = _account_of_event(payload)
    if account is None:
        return Status.IGNORED, "unknown connect account"
    payout = _retrieve(
        stripe_client().v1.payouts, obj.get("id", ""), {"stripe_account": account.stripe_connect_account_id}
    )
    row = ConnectPayout.objects.select_for_update().filter(stripe_payout_id=payout.get("id")).first()
    if row is not None and row.synced_at and at < row.synced_at:
        return Status.IGNORED, "stale: a newer payout state was applied"
    row, _ = ConnectPayout.objects.update_or_create(
        stripe_payout_id=payout["id"],
        defaults={
            "network_id": account.network_id,
            "account": account,
            "amount_minor": int(payout.get("amount") or 0),
            "currency": str(payout.get("currency") or "usd")[:3],
            "status": str(payout.get("status") or "")[:20],
            "failure_code": str(payout.get("failure_code") or "")[:200],
            "arrival_at": _at(payout.get("arrival_date")),
            "synced_at": at,
        },
    )
    from apps.inbox.services import deliver_inbox_item

    failed = payload.get("type") == "payout.failed"
    amount = f"{row.amount_minor / 100:.2f} {row.currency.upper()}"
    for user in _billing_recipients(account):
        deliver_inbox_item(
            recipient=user,
            kind="payout",
            target_type="billing.payout",
            target_id=row.pk,
            title="A payout failed" if failed else "A payout arrived",
            body=f"Payout of {amount}" + (f" failed ({row.failure_code})." if failed else " was paid."),
            data={"account": str(account.pk), "payout": str(row.pk), "status": row.status},
            requires_action=failed,
        )
    return Status.PROCESSED, ""


HANDLERS = {
    "checkout.session.completed": _on_checkout_completed,
    "customer.subscription.created": _on_subscription,
    "customer.subscription.updated": _on_subscription,
    "customer.subscription.deleted": _on_subscription,
    "invoice.paid": _on_invoice,
    "invoice.payment_failed": _on_invoice,
    "account.updated": _on_connect_account,
    "payout.paid": _on_payout,
    "payout.failed": _on_payout,
}
