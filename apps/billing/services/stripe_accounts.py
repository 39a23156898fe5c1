"""Billing accounts and the Stripe flows a person starts: Checkout, the Portal, Connect onboarding.

Who may act (SCHEMA §21): on an organization's account ``org.billing``
(owner, billing) for plans, credits and the portal, ``org.funds`` (owner,
admin, billing) for Connect onboarding; a user's own account only by that
user. Every member of the organization may read the account.

Idempotency: every Stripe create call carries a key derived from one of our
rows — ``customer:<account>``, ``checkout:<checkout session>``,
``connect:<account>``, ``portal:<account>:<client key>``,
``connect-link:<account>:<client key>`` — so a retried request (and the
SDK's own network retries) creates nothing twice. A client ``Idempotency-Key``
on checkout finds the same row, hence the same Stripe session.

Seats: an owner or billing manager asks for a new quantity (``request_seats``:
within the plan's range, never below the active human members); ``push_seats``
(Celery, after commit, with retries) sets the subscription item's quantity at
Stripe with the key ``seats:<seat change>:<quantity>`` and mirrors Stripe's
answer onto ``account.seats``. Seat limits apply when members are added
(``ensure_seat_available``; a pending decrease already counts).

Lock order: the organization row (membership changes), then the account row.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.core import audit
from apps.core.api import ensure_same_network
from apps.core.exceptions import Conflict, PermissionDenied, ValidationFailed
from apps.organizations import roles

from ..models import (
    BillingCheckoutSession,
    BillingPlan,
    BillingStripeAccount,
    CheckoutKind,
    PlanCode,
    SeatChange,
    SeatChangeStatus,
)
from ..stripe_client import (
    StripeObjectMissing,
    StripeRateLimited,
    StripeUnavailable,
    as_dict,
    call,
    stripe_client,
)


def free_allowance_micros() -> int:
    plan = BillingPlan.objects.filter(code=PlanCode.FREE).only("included_ai_micros").first()
    return plan.included_ai_micros if plan else settings.BILLING_FREE_AI_ALLOWANCE_MICROS


def account_for(
    *, network_id: Any, owner_user_id: Any = None, owner_organization_id: Any = None
) -> BillingStripeAccount:
    """The owner's account, opened on the free plan on first use (concurrent callers get one row)."""
    lookup = (
        {"owner_organization_id": owner_organization_id}
        if owner_organization_id
        else {"owner_user_id": owner_user_id, "owner_organization_id": None}
    )
    account = BillingStripeAccount.objects.filter(network_id=network_id, **lookup).first()
    if account is not None:
        return account
    try:
        with transaction.atomic():
            return BillingStripeAccount.objects.create(
                network_id=network_id, included_ai_micros=free_allowance_micros(), **lookup
            )
    except IntegrityError:
        return BillingStripeAccount.objects.get(network_id=network_id, **lookup)


def can_manage(actor: Any, account: BillingStripeAccount, permission: str = "org.billing") -> bool:
    if account.owner_organization_id:
        return roles.has_org_permission(actor, account.owner_organization, permission)
    return account.owner_user_id == getattr(actor, "pk", None)


def require_manager(actor: Any, account: BillingStripeAccount, permission: str = "org.billing") -> None:
    ensure_same_network(account.network_id, actor)
    if not can_manage(actor, account, permission):
        raise PermissionDenied(
            "Only the organization's owners and billing managers may do this.", code="org_permission_denied"
        )


def open_account(*, actor: Any, organization: Any = None) -> tuple[BillingStripeAccount, bool]:
    """The actor's own account, or an organization's (``org.billing``); created when missing."""
    if organization is not None:
        ensure_same_network(organization.network_id, actor)
        if not roles.has_org_permission(actor, organization, "org.billing"):
            raise PermissionDenied(
                "Only the organization's owners and billing managers may do this.",
                code="org_permission_denied",
            )
        existed = BillingStripeAccount.objects.filter(owner_organization=organization).exists()
        account = account_for(network_id=organization.network_id, owner_organization_id=organization.pk)
        if organization.billing_email and not account.billing_email:
            account.billing_email = organization.billing_email
            account.save(update_fields=["billing_email", "updated_at"])
        return account, not existed
    existed = BillingStripeAccount.objects.filter(owner_user=actor, owner_organization=None).exists()
    return account_for(network_id=actor.network_id, owner_user_id=actor.pk), not existed


def _lock(account: BillingStripeAccount) -> BillingStripeAccount:
    return BillingStripeAccount.objects.select_for_update().get(pk=account.pk)


@transaction.atomic
def ensure_customer(*, account: BillingStripeAccount) -> BillingStripeAccount:
    """The Stripe customer, created once (key ``customer:<account>``) under the account's lock."""
    if account.stripe_customer_id:
        return account
    account = _lock(account)
    if account.stripe_customer_id:
        return account
    owner = account.owner
    email = account.billing_email or getattr(owner, "billing_email", None) or getattr(owner, "email", None)
    name = getattr(owner, "name", None) or getattr(owner, "display_name", None) or str(owner)
    params: dict[str, Any] = {
        "name": str(name)[:200],
        "metadata": {"account_id": str(account.pk), "network_id": str(account.network_id)},
    }
    if email:
        params["email"] = email
    customer = call(
        stripe_client().v1.customers.create, params, {"idempotency_key": f"customer:{account.pk}"}
    )
    account.stripe_customer_id = customer.id
    account.save(update_fields=["stripe_customer_id", "updated_at"])
    return account


def _plan(code: str) -> BillingPlan:
    plan = BillingPlan.objects.filter(code=code, is_active=True).first()
    if plan is None or code == PlanCode.FREE:
        raise ValidationFailed(
            "Choose a paid plan (pro, team or enterprise).", field="plan", code="unknown_plan"
        )
    if not plan.stripe_price_id:
        raise Conflict("This plan cannot be bought online yet.", code="plan_not_purchasable")
    return plan


def active_human_members(organization_id: Any) -> int:
    from apps.organizations.models import OrganizationMember

    return OrganizationMember.objects.filter(
        organization_id=organization_id, status="active", user__is_ai=False
    ).count()


@transaction.atomic
def start_checkout(
    *,
    actor: Any,
    account: BillingStripeAccount,
    kind: str,
    plan: str | None = None,
    seats: int = 1,
    amount_minor: int = 0,
    client_key: str | None = None,
) -> tuple[BillingCheckoutSession, bool]:
    """A Checkout session for a plan (with seats) or a credit top-up; returns (row, created)."""
    require_manager(actor, account)
    if client_key:
        existing = BillingCheckoutSession.objects.filter(
            account=account, created_by=actor, client_key=client_key
        ).first()
        if existing is not None:
            same = (existing.kind, existing.plan, existing.seats, existing.amount_minor) == (
                kind,
                plan if kind == CheckoutKind.SUBSCRIPTION else None,
                seats if kind == CheckoutKind.SUBSCRIPTION else 1,
                amount_minor if kind == CheckoutKind.CREDITS else 0,
            )
            if not same:
                raise Conflict(
                    "This Idempotency-Key was used for another checkout.", code="idempotency_key_reused"
                )
            return existing, False
    row = BillingCheckoutSession(
        network_id=account.network_id,
        account=account,
        kind=kind,
        created_by=actor,
        client_key=client_key or None,
    )
    line_items: list[dict[str, Any]]
    if kind == CheckoutKind.SUBSCRIPTION:
        chosen = _plan(plan or "")
        if seats < 1:
            raise ValidationFailed("Seats must be at least 1.", field="seats", code="invalid_seats")
        if chosen.per_seat and not account.owner_organization_id:
            raise ValidationFailed(
                "This plan is for organizations.", field="plan", code="plan_needs_organization"
            )
        if not chosen.per_seat:
            seats = 1
        if not chosen.min_seats <= seats <= chosen.max_seats:
            raise ValidationFailed(
                f"This plan takes {chosen.min_seats}–{chosen.max_seats} seats.",
                field="seats",
                code="invalid_seats",
            )
        if account.owner_organization_id and chosen.per_seat:
            used = active_human_members(account.owner_organization_id)
            if seats < used:
                raise ValidationFailed(
                    f"The organization has {used} members; buy at least that many seats.",
                    field="seats",
                    code="seats_below_members",
                )
        if account.is_live and account.stripe_subscription_id:
            raise Conflict(
                "This account already has a subscription; change it in the billing portal.",
                code="already_subscribed",
            )
        row.plan, row.seats = chosen.code, seats
        line_items = [{"price": chosen.stripe_price_id, "quantity": seats}]
    elif kind == CheckoutKind.CREDITS:
        low, high = settings.BILLING_CREDIT_TOPUP_MIN_MINOR, settings.BILLING_CREDIT_TOPUP_MAX_MINOR
        if not low <= amount_minor <= high:
            raise ValidationFailed(
                f"Top up between {low} and {high} cents.", field="amount_minor", code="invalid_amount"
            )
        row.amount_minor = amount_minor
        line_items = [
            {
                "price_data": {
                    "currency": settings.BILLING_CURRENCY,
                    "unit_amount": amount_minor,
                    "product_data": {"name": "Colony credits"},
                },
                "quantity": 1,
            }
        ]
    else:
        raise ValidationFailed("Unknown checkout kind.", field="kind", code="invalid_kind")
    try:
        with transaction.atomic():
            row.save()
    except IntegrityError as exc:  # a concurrent request with the same client key won
        raise Conflict("This checkout is already being created.", code="idempotency_key_in_use") from exc
    account = ensure_customer(account=account)
    metadata = {"checkout_id": str(row.pk), "account_id": str(account.pk), "kind": kind}
    params: dict[str, Any] = {
        "mode": "subscription" if kind == CheckoutKind.SUBSCRIPTION else "payment",
        "customer": account.stripe_customer_id,
        "client_reference_id": str(row.pk),
        "line_items": line_items,
        "success_url": settings.BILLING_CHECKOUT_SUCCESS_URL,
        "cancel_url": settings.BILLING_CHECKOUT_CANCEL_URL,
        "metadata": metadata,
    }
    if kind == CheckoutKind.SUBSCRIPTION:
        params["subscription_data"] = {"metadata": {**metadata, "plan": row.plan}}
    else:
        params["payment_intent_data"] = {"metadata": metadata}
    session = call(
        stripe_client().v1.checkout.sessions.create, params, {"idempotency_key": row.idempotency_key}
    )
    row.stripe_session_id = session.id
    row.url = session.url or ""
    row.save(update_fields=["stripe_session_id", "url", "updated_at"])
    return row, True


def create_portal_session(*, actor: Any, account: BillingStripeAccount, client_key: str | None = None) -> str:
    """A customer portal link (plan, seats, payment method, invoices)."""
    require_manager(actor, account)
    account = ensure_customer(account=account)
    key = f"portal:{account.pk}:{client_key or uuid.uuid4()}"
    session = call(
        stripe_client().v1.billing_portal.sessions.create,
        {"customer": account.stripe_customer_id, "return_url": settings.BILLING_PORTAL_RETURN_URL},
        {"idempotency_key": key},
    )
    return session.url


@transaction.atomic
def start_connect_onboarding(
    *, actor: Any, account: BillingStripeAccount, client_key: str | None = None
) -> str:
    """The Connect account for payouts (created once, key ``connect:<account>``) and an onboarding link."""
    require_manager(actor, account, "org.funds")
    account = _lock(account)
    stripe = stripe_client()
    if not account.stripe_connect_account_id:
        params: dict[str, Any] = {
            "type": "express",
            "metadata": {"account_id": str(account.pk), "network_id": str(account.network_id)},
            "capabilities": {"transfers": {"requested": True}},
        }
        email = account.billing_email or getattr(account.owner, "email", None)
        if email:
            params["email"] = email
        connect = call(stripe.v1.accounts.create, params, {"idempotency_key": f"connect:{account.pk}"})
        account.stripe_connect_account_id = connect.id
        account.save(update_fields=["stripe_connect_account_id", "updated_at"])
    link = call(
        stripe.v1.account_links.create,
        {
            "account": account.stripe_connect_account_id,
            "refresh_url": settings.BILLING_CONNECT_REFRESH_URL,
            "return_url": settings.BILLING_CONNECT_RETURN_URL,
            "type": "account_onboarding",
        },
        {"idempotency_key": f"connect-link:{account.pk}:{client_key or uuid.uuid4()}"},
    )
    return link.url


# --- seats -------------------------------------------------------------------------------


def seat_limit(account: BillingStripeAccount | None) -> int | None:
    """Seats the organization may fill: a live per-seat subscription's quantity; None = no limit.

    A pending decrease counts already (members may not fill seats that are being removed).
    """
    if account is None or not account.is_live:
        return None
    plan = BillingPlan.objects.filter(code=account.plan).only("per_seat").first()
    if plan is None or not plan.per_seat:
        return None
    pending = (
        SeatChange.objects.filter(account=account, status=SeatChangeStatus.PENDING)
        .order_by("-id")
        .values_list("quantity", flat=True)
        .first()
    )
    return min(account.seats, pending) if pending else account.seats


def ensure_seat_available(*, organization: Any, adding_human: bool = True) -> None:
    """Called by the organizations services with the organization row locked, before a member joins."""
    if not adding_human:
        return
    account = BillingStripeAccount.objects.filter(owner_organization_id=organization.pk).first()
    limit = seat_limit(account)
    if limit is None:
        return
    if active_human_members(organization.pk) + 1 > limit:
        raise Conflict(
            f"All {limit} seats of the plan are taken; add seats in the billing portal.",
            code="seat_limit_reached",
        )


@transaction.atomic
def request_seats(
    *, actor: Any, account: BillingStripeAccount, seats: int, client_key: str | None = None
) -> tuple[SeatChange, bool]:
    """Ask for ``seats`` on the organization's per-seat subscription; returns (row, created).

    Checked under the organization's lock (lock order: organization, then account): the plan's
    range, and never below the active human members. The push to Stripe runs in Celery after
    commit (``push_seats``); ``account.seats`` moves when Stripe answers.
    """
    from apps.organizations.models import Organization

    require_manager(actor, account)
    if client_key:
        existing = SeatChange.objects.filter(
            account=account, requested_by=actor, client_key=client_key
        ).first()
        if existing is not None:
            if existing.quantity != seats:
                raise Conflict(
                    "This Idempotency-Key was used for another seat change.", code="idempotency_key_reused"
                )
            return existing, False
    if not account.owner_organization_id:
        raise Conflict("Seats belong to an organization's plan.", code="no_seat_subscription")
    Organization.objects.select_for_update().filter(pk=account.owner_organization_id).first()
    account = _lock(account)
    plan = BillingPlan.objects.filter(code=account.plan).first()
    if not (account.is_live and account.stripe_subscription_id and plan is not None and plan.per_seat):
        raise Conflict(
            "This account has no live per-seat subscription; choose a plan first.",
            code="no_seat_subscription",
        )
    if not plan.min_seats <= seats <= plan.max_seats:
        raise ValidationFailed(
            f"This plan takes {plan.min_seats}–{plan.max_seats} seats.", field="seats", code="invalid_seats"
        )
    used = active_human_members(account.owner_organization_id)
    if seats < used:
        raise ValidationFailed(
            f"The organization has {used} members; keep at least that many seats.",
            field="seats",
            code="seats_below_members",
        )
    pending = (
        SeatChange.objects.filter(account=account, status=SeatChangeStatus.PENDING).order_by("-id").first()
    )
    if seats == (pending.quantity if pending else account.seats):
        raise Conflict(f"The plan already has {seats} seats.", code="seats_unchanged")
    try:
        with transaction.atomic():
            change = SeatChange.objects.create(
                network_id=account.network_id,
                account=account,
                quantity=seats,
                previous_seats=account.seats,
                requested_by=actor,
                client_key=client_key or None,
            )
    except IntegrityError as exc:  # a concurrent request with the same client key won
        raise Conflict("This seat change is already being made.", code="idempotency_key_in_use") from exc
    audit.record(
        network=account.network_id,
        actor=actor,
        action="billing.seats_requested",
        target=account,
        organization=account.owner_organization,
        data={"seats": seats, "previous": account.seats, "change": str(change.pk)},
    )
    from .. import stripe_tasks

    transaction.on_commit(lambda: stripe_tasks.push_seats.delay(str(change.pk)))
    return change, True


#: ``push_seats`` outcomes besides a SeatChange status
SEATS_RETRY = "retry"


def _permanent(exc: StripeUnavailable) -> bool:
    """A refusal that a retry cannot fix (unknown subscription, invalid request)."""
    import stripe

    return isinstance(exc, StripeObjectMissing) or isinstance(exc.__cause__, stripe.InvalidRequestError)


def push_seats(*, change_id: Any) -> str:
    """Set the Stripe subscription item's quantity to the change's (key ``seats:<row>:<quantity>``),
    then mirror Stripe's answer onto the account. Once per row; a newer request supersedes it.

    Returns the row's new status, "skipped" (not pending), or ``SEATS_RETRY`` (Stripe down or
    busy; ``attempts`` + 1 — after ``STRIPE_EVENT_MAX_ATTEMPTS`` the row is ``failed``).
    """
    with transaction.atomic():
        change = (
            SeatChange.objects.select_for_update(skip_locked=True)
            .filter(pk=change_id, status=SeatChangeStatus.PENDING)
            .first()
        )
        if change is None:
            return "skipped"
        account = _lock(change.account)
        if (
            SeatChange.objects.filter(account=account, pk__gt=change.pk)
            .exclude(status=SeatChangeStatus.FAILED)
            .exists()
        ):
            change.status = SeatChangeStatus.SUPERSEDED
            change.save(update_fields=["status", "updated_at"])
            return change.status
        change.attempts += 1
        try:
            answer = _set_quantity(account, change)
        except (StripeUnavailable, StripeRateLimited) as exc:
            change.error = f"{type(exc).__name__}: {exc.message}"[:2000]
            out_of_attempts = change.attempts >= settings.STRIPE_EVENT_MAX_ATTEMPTS
            if isinstance(exc, StripeUnavailable) and _permanent(exc) or out_of_attempts:
                change.status = SeatChangeStatus.FAILED
                change.save(update_fields=["attempts", "error", "status", "updated_at"])
                return change.status
            change.save(update_fields=["attempts", "error", "updated_at"])
            return SEATS_RETRY
        quantity = _mirror_quantity(account, answer)
        change.status, change.stripe_quantity, change.error = SeatChangeStatus.APPLIED, quantity, ""
        change.applied_at = timezone.now()
        change.save(
            update_fields=["status", "stripe_quantity", "error", "attempts", "applied_at", "updated_at"]
        )
        return change.status


def _set_quantity(account: BillingStripeAccount, change: SeatChange) -> dict:
    client = stripe_client().v1.subscriptions
    if not account.stripe_subscription_id:
        raise StripeObjectMissing("The account has no subscription.")
    sub = as_dict(call(client.retrieve, account.stripe_subscription_id))
    items = ((sub.get("items") or {}).get("data")) or []
    if not items:
        raise StripeObjectMissing("The subscription has no item.")
    params = {
        "items": [{"id": items[0]["id"], "quantity": change.quantity}],
        "proration_behavior": "create_prorations",
        "metadata": {"seat_change_id": str(change.pk)},
    }
    return as_dict(
        call(
            client.update, account.stripe_subscription_id, params, {"idempotency_key": change.idempotency_key}
        )
    )


def _mirror_quantity(account: BillingStripeAccount, sub: dict) -> int:
    """The account's seats (and the per-seat allowance) as Stripe answered; status and period stay
    with the subscription events (their ordering rules)."""
    from .stripe_events import _price_plan

    plan, quantity = _price_plan(sub)
    if plan is None:
        plan = BillingPlan.objects.filter(code=account.plan).first()
    account.seats = max(quantity, 1)
    fields = ["seats", "updated_at"]
    if plan is not None and plan.per_seat:
        account.included_ai_micros = plan.included_ai_micros * account.seats
        fields.append("included_ai_micros")
    account.save(update_fields=fields)
    return account.seats


def sync_seats(*, organization_id: Any) -> int | None:
    """Count the organization's active human members onto its account (after membership changes)."""
    used = active_human_members(organization_id)
    updated = BillingStripeAccount.objects.filter(owner_organization_id=organization_id).update(
        seats_used=used, seats_synced_at=timezone.now()
    )
    return used if updated else None


def payment_method_hint(method: Any) -> str | None:
    data = as_dict(method) if method is not None and not isinstance(method, str) else None
    card = (data or {}).get("card") or {}
    if card.get("last4"):
        return f"{card.get('brand') or 'card'} •••• {card['last4']}"[:40]
    return None
