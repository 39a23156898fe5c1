"""The waitlist: anonymous double opt-in joins, referrals, positions.

* ``join_waitlist`` answers the same for a new and a known address (no
  enumeration): it only ever mails. A new address gets a confirmation link;
  a known one gets its confirmation again (unverified) or a status link.
  Filled honeypot → nothing happens, same answer. 5 joins an hour per salted
  IP hash (``WAITLIST_JOIN_RATE``) → 429.
* ``position`` = max + 1 under ``pg_advisory_xact_lock(16001, hashtext(network))``.
* Referrals count once the referred address is confirmed; each moves the
  referrer up ``WAITLIST_REFERRAL_BOOST`` places, for at most
  ``WAITLIST_REFERRAL_CAP`` referrals. A referral from the same address
  (ignoring ``+tags``) or the same IP hash is ignored.
* ``priority_score`` = position − boost × min(verified referrals, cap); the
  release order is (priority_score, position), lower first.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Max, Q, Value
from django.db.models.functions import Least
from django.utils import timezone

from apps.core import ratelimit
from apps.core.exceptions import NotFound, ValidationFailed
from apps.core.tokens import hash_token, new_token

from .. import codes
from ..models import InviteWaitlist, WaitlistStatus
from ._common import (
    ip_hash,
    lock_network_waitlist,
    referral_url,
    send_invites_mail,
    status_url,
    verify_url,
)

#: one mail per address per this interval, whatever the joins (a mail-bomb brake)
MAIL_INTERVAL = timedelta(minutes=10)
TOKEN_INVALID = "This confirmation link is invalid or has expired."


@dataclass(frozen=True)
class WaitlistStanding:
    entry: InviteWaitlist
    ahead: int
    referral_url: str
    token: str | None = None  # the status token, returned once at confirmation


def canonical_email(email: str) -> str:
    """``Ann+x@Example.com`` → ``ann@example.com``: what counts as the same person for referrals."""
    local, _, domain = email.lower().partition("@")
    return f"{local.split('+', 1)[0]}@{domain}"


def score_expression() -> Any:
    boost, cap = settings.WAITLIST_REFERRAL_BOOST, settings.WAITLIST_REFERRAL_CAP
    return F("position") - Value(boost) * Least(F("verified_referral_count"), Value(cap))


def _new_referral_code() -> str:
    return "".join(secrets.choice(codes.ALPHABET) for _ in range(8)).lower()


def _may_mail(entry: InviteWaitlist, now: Any) -> bool:
    return entry.last_mailed_at is None or entry.last_mailed_at <= now - MAIL_INTERVAL


@transaction.atomic
def join_waitlist(
    *,
    network: Any,
    email: str,
    name: str = "",
    referral_code: str | None = None,
    ip: str | None = None,
    source: dict[str, Any] | None = None,
    honeypot: str = "",
) -> None:
    """Join (or be reminded). Returns nothing on purpose: the answer never depends on the address."""
    hashed_ip = ip_hash(ip)
    ratelimit.enforce(
        f"waitlist:join:{network.pk}:{hashed_ip or 'none'}",
        settings.WAITLIST_JOIN_RATE,
        message="Too many sign-ups from your address; try again later.",
    )
    if honeypot:
        return
    email = email.strip().lower()
    now = timezone.now()
    lock_network_waitlist(network.pk)
    entry = InviteWaitlist.objects.select_for_update().filter(network=network, email=email).first()
    if entry is not None:
        _remind(entry, now)
        return
    referrer = None
    if referral_code:
        referrer = (
            InviteWaitlist.objects.filter(network=network, referral_code=referral_code.strip().lower()[:10])
            .exclude(status=WaitlistStatus.REMOVED)
            .first()
        )
        if referrer is not None and (
            canonical_email(referrer.email) == canonical_email(email)
            or (hashed_ip and referrer.ip_hash == hashed_ip)
        ):
            referrer = None  # self-referral: ignored
    position = (InviteWaitlist.objects.filter(network=network).aggregate(m=Max("position"))["m"] or 0) + 1
    token = new_token()
    for _attempt in range(5):
        try:
            with transaction.atomic():
                entry = InviteWaitlist.objects.create(
                    network=network,
                    email=email,
                    name=name.strip()[:200],
                    position=position,
                    priority_score=position,
                    referral_code=_new_referral_code(),
                    referred_by=referrer,
                    source=source or {},
                    ip_hash=hashed_ip,
                    verify_token_hash=hash_token(token),
                    verify_expires_at=now + timedelta(hours=settings.WAITLIST_VERIFY_TTL_HOURS),
                    last_mailed_at=now,
                )
            break
        except IntegrityError:  # a referral code collision (the position is held by the lock)
            continue
    else:  # pragma: no cover - 40 bits five times over
        raise ValidationFailed("Please try again.")
    send_invites_mail(
        to=email,
        template="waitlist_verify",
        context={"entry": entry, "verify_url": verify_url(token)},
        network=network,
    )


def _remind(entry: InviteWaitlist, now: Any) -> None:
    if entry.status == WaitlistStatus.REMOVED or not _may_mail(entry, now):
        return
    fields = ["last_mailed_at", "updated_at"]
    entry.last_mailed_at = now
    if entry.email_verified_at is None:
        token = new_token()
        entry.verify_token_hash = hash_token(token)
        entry.verify_expires_at = now + timedelta(hours=settings.WAITLIST_VERIFY_TTL_HOURS)
        fields += ["verify_token_hash", "verify_expires_at"]
        template, context = "waitlist_verify", {"verify_url": verify_url(token)}
    else:
        token = new_token()
        entry.access_token_hash = hash_token(token)
        fields.append("access_token_hash")
        template, context = "waitlist_status", {"status_url": status_url(token)}
    entry.save(update_fields=fields)
    send_invites_mail(
        to=entry.email, template=template, context={"entry": entry, **context}, network=entry.network
    )


@transaction.atomic
def verify_waitlist_email(*, network: Any, token: str) -> WaitlistStanding:
    """Confirm the address (single use); counts the referral; returns the standing and a status token."""
    now = timezone.now()
    entry = (
        InviteWaitlist.objects.select_for_update()
        .filter(network=network, verify_token_hash=hash_token(token or ""))
        .first()
    )
    if entry is None or entry.verify_expires_at is None or entry.verify_expires_at <= now:
        raise ValidationFailed(TOKEN_INVALID, field="token", code="token_invalid")
    access = new_token()
    entry.email_verified_at = now
    entry.verify_token_hash = None
    entry.verify_expires_at = None
    entry.access_token_hash = hash_token(access)
    entry.save(
        update_fields=[
            "email_verified_at",
            "verify_token_hash",
            "verify_expires_at",
            "access_token_hash",
            "updated_at",
        ]
    )
    if entry.referred_by_id:
        InviteWaitlist.objects.filter(pk=entry.referred_by_id).update(
            verified_referral_count=F("verified_referral_count") + 1, updated_at=now
        )
        InviteWaitlist.objects.filter(pk=entry.referred_by_id).update(priority_score=score_expression())
    return standing(entry=entry, token=access)


def entry_for_status_token(*, network: Any, token: str | None) -> InviteWaitlist:
    entry = (
        InviteWaitlist.objects.filter(network=network, access_token_hash=hash_token(token)).first()
        if token
        else None
    )
    if entry is None:
        raise NotFound()
    return entry


def people_ahead(entry: InviteWaitlist) -> int:
    """Confirmed entries still waiting that will be invited before this one."""
    if entry.status != WaitlistStatus.WAITING:
        return 0
    return (
        InviteWaitlist.objects.filter(
            network_id=entry.network_id, status=WaitlistStatus.WAITING, email_verified_at__isnull=False
        )
        .filter(
            Q(priority_score__lt=entry.priority_score)
            | Q(priority_score=entry.priority_score, position__lt=entry.position)
        )
        .count()
    )


def standing(*, entry: InviteWaitlist, token: str | None = None) -> WaitlistStanding:
    entry.refresh_from_db()
    return WaitlistStanding(
        entry=entry, ahead=people_ahead(entry), referral_url=referral_url(entry.referral_code), token=token
    )


@transaction.atomic
def remove_entry(*, actor: Any, entry: InviteWaitlist) -> InviteWaitlist:
    updated = InviteWaitlist.objects.filter(pk=entry.pk, status=WaitlistStatus.WAITING).update(
        status=WaitlistStatus.REMOVED, updated_at=timezone.now()
    )
    if not updated:
        from apps.core.exceptions import InvalidState

        raise InvalidState("Only a waiting entry can be removed.")
    entry.refresh_from_db()
    return entry


def repair_scores(*, network_id: Any = None) -> int:
    """Recount verified referrals and recompute scores (the hourly job): repairs drift; returns rows changed."""
    qs = InviteWaitlist.objects.all()
    if network_id is not None:
        qs = qs.filter(network_id=network_id)
    changed = 0
    counted = qs.annotate(
        real=Count("referrals", filter=Q(referrals__email_verified_at__isnull=False))
    ).exclude(verified_referral_count=F("real"))
    for pk, real in counted.values_list("pk", "real").iterator():
        changed += InviteWaitlist.objects.filter(pk=pk).update(verified_referral_count=real)
    boost, cap = settings.WAITLIST_REFERRAL_BOOST, settings.WAITLIST_REFERRAL_CAP
    changed += qs.exclude(
        priority_score=F("position") - boost * Least(F("verified_referral_count"), cap)
    ).update(priority_score=score_expression())
    return changed
