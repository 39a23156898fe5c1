"""Invite codes: issue, bulk-generate, check, redeem at signup, revoke, send.

Redemption is ONE conditional UPDATE in the signup transaction::

    UPDATE invitecode SET use_count = use_count + 1
     WHERE network = ? AND code = ? AND revoked_at IS NULL
       AND (expires_at IS NULL OR expires_at > now()) AND use_count < max_uses
       AND (bound_email IS NULL OR bound_email = ?)
    RETURNING id

Two signups racing for the last use serialise on the row lock and the loser
re-evaluates the WHERE: exactly one gets a row. 0 rows → 400
``invite_invalid``, the same for unknown, used up, expired, revoked and
bound-to-someone-else codes. The user, the redemption row, the grants and
the waitlist entry's ``joined`` commit together; a rollback frees the use.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from apps.accounts import invites as signup_gate
from apps.core import ratelimit
from apps.core.api import ensure_same_network
from apps.core.exceptions import InvalidState, PermissionDenied, ValidationFailed

from .. import codes
from ..models import InviteCode, InviteCodeKind, InviteRedemption, InviteWaitlist, WaitlistStatus
from . import grants as grant_rules
from ._common import ip_hash, send_invites_mail, signup_url

CHUNK = 1000


def _usable(network: Any, code: str, now: datetime) -> Any:
    return InviteCode.objects.filter(
        Q(expires_at__isnull=True) | Q(expires_at__gt=now),
        network=network,
        code=code,
        revoked_at__isnull=True,
        use_count__lt=F("max_uses"),
    )


def check_code(*, network: Any, code: str | None, email: str | None = None) -> bool:
    """Whether ``code`` would admit ``email`` now (consumes nothing)."""
    normalised = codes.normalise(code)
    if network is None or normalised is None:
        return False
    email = (email or "").strip().lower()
    return (
        _usable(network, normalised, timezone.now())
        .filter(Q(bound_email__isnull=True) | Q(bound_email=email))
        .exists()
    )


def check_code_anonymously(*, network: Any, code: str | None, ip: str | None) -> bool:
    """The public check: usable now (an address binding is checked at signup). Rate-limited per IP."""
    ratelimit.enforce(f"invites:check:{ip_hash(ip) or 'none'}", settings.INVITE_CHECK_RATE)
    normalised = codes.normalise(code)
    if network is None or normalised is None:
        return False
    return _usable(network, normalised, timezone.now()).exists()


_REDEEM_SQL = """
UPDATE invites_invitecode
   SET use_count = use_count + 1, updated_at = now()
 WHERE network_id = %s AND code = %s AND revoked_at IS NULL
   AND (expires_at IS NULL OR expires_at > now())
   AND use_count < max_uses
   AND (bound_email IS NULL OR bound_email = %s)
RETURNING id
"""


def redeem_code(*, network: Any, code: str | None, user: Any, ip: str | None = None) -> InviteRedemption:
    """Consume one use for ``user`` inside the caller's (signup) transaction; 400 ``invite_invalid`` otherwise."""
    normalised = codes.normalise(code)
    email = (user.email or "").strip().lower()
    row = None
    if normalised is not None:
        with connection.cursor() as cursor:
            cursor.execute(_REDEEM_SQL, [network.pk, normalised, email])
            row = cursor.fetchone()
    if row is None:
        raise signup_gate.InviteInvalid()
    invite = InviteCode.objects.select_related("created_by", "owner").get(pk=row[0])
    redemption = InviteRedemption.objects.create(
        network_id=network.pk, code=invite, user=user, ip_hash=ip_hash(ip)
    )
    grant_rules.apply_grants(code=invite, user=user)
    _mark_joined(network=network, invite=invite, user=user)
    _welcome_on_commit(user=user, invite=invite)
    return redemption


def _mark_joined(*, network: Any, invite: InviteCode, user: Any) -> None:
    entries = InviteWaitlist.objects.filter(network=network).exclude(status=WaitlistStatus.REMOVED)
    match = Q(email=(user.email or "").lower())
    if invite.waitlist_entry_id:
        match |= Q(pk=invite.waitlist_entry_id)
    entries.filter(match).exclude(status=WaitlistStatus.JOINED).update(
        status=WaitlistStatus.JOINED, user=user, updated_at=timezone.now()
    )


def _welcome_on_commit(*, user: Any, invite: InviteCode) -> None:
    from apps.inbox.services import deliver_inbox_item

    # deliver_inbox_item acts on commit itself (and never raises for a recipient who cannot receive)
    deliver_inbox_item(
        recipient=user,
        kind="welcome",
        target_type="network",
        target_id=user.network_id,
        actor=invite.owner,
        title=f"Welcome to {user.network.name}",
        body="Your invitation was accepted.",
        data={"invite_code_id": str(invite.pk), "invite_kind": invite.kind},
    )


# --- issuing -------------------------------------------------------------------------


def _insert_codes(rows: list[InviteCode]) -> list[InviteCode]:
    """Insert with fresh codes; a (40-bit) collision only retries the colliding chunk."""
    for _attempt in range(5):
        try:
            with transaction.atomic():
                return InviteCode.objects.bulk_create(rows)
        except IntegrityError:
            for row in rows:
                row.code = codes.new_code()
    raise ValidationFailed("Could not generate unique codes; try again.")  # pragma: no cover


def build_code(
    *,
    network_id: Any,
    kind: str,
    owner: Any = None,
    bound_email: str | None = None,
    waitlist_entry: Any = None,
    wave: Any = None,
    max_uses: int = 1,
    expires_at: datetime | None = None,
    grants: dict[str, Any] | None = None,
    note: str = "",
    created_by: Any = None,
) -> InviteCode:
    """An unsaved code (callers insert in bulk with ``_insert_codes``)."""
    return InviteCode(
        network_id=network_id,
        code=codes.new_code(),
        kind=kind,
        owner=owner,
        bound_email=bound_email.lower() if bound_email else None,
        waitlist_entry=waitlist_entry,
        wave=wave,
        max_uses=max_uses,
        expires_at=expires_at,
        grants=grants or {},
        note=note,
        created_by=created_by,
    )


def insert_codes(rows: list[InviteCode]) -> list[InviteCode]:
    out: list[InviteCode] = []
    for start in range(0, len(rows), CHUNK):
        out.extend(_insert_codes(rows[start : start + CHUNK]))
    return out


def _check_params(*, kind: str, max_uses: int, expires_at: datetime | None) -> None:
    if kind not in InviteCodeKind.values:
        raise ValidationFailed("Unknown kind.", field="kind")
    if not 1 <= max_uses <= 1_000_000:
        raise ValidationFailed("Between 1 and 1,000,000 uses.", field="max_uses")
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationFailed("The expiry must be in the future.", field="expires_at", code="in_the_past")


def generate_codes(
    *,
    actor: Any,
    network: Any,
    count: int,
    kind: str = InviteCodeKind.STAFF,
    max_uses: int = 1,
    expires_at: datetime | None = None,
    grants: dict[str, Any] | None = None,
    note: str = "",
    limit: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    collect: bool = True,
) -> tuple[int, list[InviteCode]]:
    """Bulk generation (network admins and staff), committed per chunk of 1,000 so progress is visible.

    Returns (how many, the codes — unless ``collect`` is off, for very large runs).
    """
    limit = limit or settings.INVITE_BULK_MAX
    if not 1 <= count <= limit:
        raise ValidationFailed(f"Generate between 1 and {limit} codes.", field="count")
    _check_params(kind=kind, max_uses=max_uses, expires_at=expires_at)
    checked = grant_rules.validate_grants(actor=actor, network=network, grants=grants)
    made: list[InviteCode] = []
    done = 0
    while done < count:
        size = min(CHUNK, count - done)
        rows = [
            build_code(
                network_id=network.pk,
                kind=kind,
                max_uses=max_uses,
                expires_at=expires_at,
                grants=checked,
                note=note,
                created_by=actor,
            )
            for _ in range(size)
        ]
        with transaction.atomic():
            inserted = _insert_codes(rows)
        done += len(inserted)
        if collect:
            made.extend(inserted)
        if progress is not None:
            progress(done, count)
    return done, made


@transaction.atomic
def issue_code(
    *,
    actor: Any,
    network: Any,
    kind: str = InviteCodeKind.STAFF,
    owner: Any = None,
    bound_email: str | None = None,
    max_uses: int = 1,
    expires_at: datetime | None = None,
    grants: dict[str, Any] | None = None,
    note: str = "",
) -> InviteCode:
    _check_params(kind=kind, max_uses=max_uses, expires_at=expires_at)
    ensure_same_network(network, owner)
    checked = grant_rules.validate_grants(actor=actor, network=network, grants=grants)
    row = build_code(
        network_id=network.pk,
        kind=kind,
        owner=owner,
        bound_email=bound_email,
        max_uses=max_uses,
        expires_at=expires_at,
        grants=checked,
        note=note,
        created_by=actor,
    )
    return _insert_codes([row])[0]


@transaction.atomic
def revoke_code(*, actor: Any, code: InviteCode) -> InviteCode:
    """Revoke a code (its owner, a network admin or staff); revoking twice is a no-op."""
    _require_manage(actor, code)
    InviteCode.objects.filter(pk=code.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now(), updated_at=timezone.now()
    )
    code.refresh_from_db()
    return code


def _is_admin(actor: Any) -> bool:
    return bool(getattr(actor, "is_staff", False) or getattr(actor, "network_role", None) == "admin")


def _require_manage(actor: Any, code: InviteCode) -> None:
    if not actor.is_staff:
        ensure_same_network(actor.network_id, code)
    if code.owner_id != getattr(actor, "pk", None) and not _is_admin(actor):
        raise PermissionDenied("Only the code's owner or a network admin may do this.")


@transaction.atomic
def send_code(*, actor: Any, code: InviteCode, email: str) -> InviteCode:
    """Mail an invitation with the code; a single-use unused code is bound to that address."""
    _require_manage(actor, code)
    ratelimit.enforce(f"invites:send:{actor.pk}", settings.INVITE_SEND_RATE)
    email = email.strip().lower()
    code = InviteCode.objects.select_for_update().get(pk=code.pk)
    now = timezone.now()
    if code.revoked_at or (code.expires_at and code.expires_at <= now) or code.use_count >= code.max_uses:
        raise InvalidState("This code can no longer be used.", code="invite_unusable")
    if code.bound_email and code.bound_email != email:
        raise InvalidState("This code is bound to another address.", code="invite_bound")
    if code.max_uses == 1 and not code.bound_email:
        code.bound_email = email
        code.save(update_fields=["bound_email", "updated_at"])
    send_invites_mail(
        to=email,
        template="invitation",
        context={
            "code": code.code,
            "signup_url": signup_url(code.code),
            "inviter": actor,
            "expires_at": code.expires_at,
        },
        network=code.network,
    )
    return code


def default_expiry(days: int) -> datetime:
    return timezone.now() + timedelta(days=days)
