"""Invite waves: scheduled → releasing → released; scheduled ⇄ paused; scheduled/paused → cancelled.

``release_wave`` is idempotent per wave: it locks the wave row (``SKIP
LOCKED``: a second releaser walks away) and acts only on a due
``scheduled`` wave. In one transaction it takes the next ``invite_count``
confirmed waiting entries by (priority_score, position) with ``FOR UPDATE
SKIP LOCKED``, issues one code bound to each address, marks them invited,
queues the invitation mail (on commit), gives every active member
``codes_per_user`` member codes, marks the wave released and — when it
repeats — schedules the next one.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from apps.core.api import ensure_same_network
from apps.core.exceptions import Conflict, InvalidState, ValidationFailed

from ..models import InviteCode, InviteCodeKind, InviteWaitlist, InviteWaveConfig, WaitlistStatus, WaveStatus
from ._common import send_invites_mail, signup_url
from .invite_codes import build_code, insert_codes

EDITABLE = (
    "name",
    "scheduled_at",
    "invite_count",
    "codes_per_user",
    "code_max_uses",
    "code_ttl_days",
    "repeat_every",
    "auto_continue",
)
MAX_INVITES_PER_WAVE = 100_000
MAX_CODES_PER_USER = 50


def _check(values: dict[str, Any]) -> None:
    when = values.get("scheduled_at")
    if when is not None and when <= timezone.now():
        raise ValidationFailed(
            "Schedule the wave in the future (or use release now).", field="scheduled_at", code="in_the_past"
        )
    if not 0 <= values.get("invite_count", 0) <= MAX_INVITES_PER_WAVE:
        raise ValidationFailed(f"At most {MAX_INVITES_PER_WAVE} invitations per wave.", field="invite_count")
    if not 0 <= values.get("codes_per_user", 0) <= MAX_CODES_PER_USER:
        raise ValidationFailed(f"At most {MAX_CODES_PER_USER} codes per member.", field="codes_per_user")
    if values.get("code_max_uses", 1) < 1:
        raise ValidationFailed("At least one use.", field="code_max_uses")
    if not 1 <= values.get("code_ttl_days", 14) <= 365:
        raise ValidationFailed("Between 1 and 365 days.", field="code_ttl_days")
    repeat = values.get("repeat_every")
    if repeat is not None and repeat < timedelta(hours=1):
        raise ValidationFailed("Repeat at most hourly.", field="repeat_every")
    if values.get("auto_continue") and repeat is None:
        raise ValidationFailed("A wave that continues needs repeat_every.", field="repeat_every")


@transaction.atomic
def create_wave(
    *,
    actor: Any,
    network: Any,
    name: str,
    scheduled_at: datetime,
    invite_count: int = 0,
    codes_per_user: int = 0,
    code_max_uses: int = 1,
    code_ttl_days: int = 14,
    repeat_every: timedelta | None = None,
    auto_continue: bool = False,
) -> InviteWaveConfig:
    values = {
        "name": name,
        "scheduled_at": scheduled_at,
        "invite_count": invite_count,
        "codes_per_user": codes_per_user,
        "code_max_uses": code_max_uses,
        "code_ttl_days": code_ttl_days,
        "repeat_every": repeat_every,
        "auto_continue": auto_continue,
    }
    _check(values)
    for _attempt in range(3):
        number = (
            InviteWaveConfig.objects.filter(network=network).aggregate(m=Max("wave_number"))["m"] or 0
        ) + 1
        try:
            with transaction.atomic():
                return InviteWaveConfig.objects.create(
                    network=network, wave_number=number, created_by=actor, **values
                )
        except IntegrityError:
            continue
    raise Conflict("Another wave was created at the same time; try again.")  # pragma: no cover


def _lock(wave: InviteWaveConfig) -> InviteWaveConfig:
    return InviteWaveConfig.objects.select_for_update().get(pk=wave.pk)


@transaction.atomic
def update_wave(*, actor: Any, wave: InviteWaveConfig, changes: dict[str, Any]) -> InviteWaveConfig:
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise ValidationFailed(f"Unknown fields: {', '.join(sorted(unknown))}.")
    wave = _lock(wave)
    if wave.status not in (WaveStatus.SCHEDULED, WaveStatus.PAUSED):
        raise InvalidState("Only a scheduled or paused wave can be changed.")
    merged = {name: getattr(wave, name) for name in EDITABLE}
    merged.update(changes)
    if "scheduled_at" not in changes:
        merged.pop("scheduled_at")
    _check(merged)
    for name, value in changes.items():
        setattr(wave, name, value)
    if changes:
        wave.save(update_fields=[*changes, "updated_at"])
    return wave


def _move(wave: InviteWaveConfig, sources: tuple[str, ...], target: str, **extra: Any) -> InviteWaveConfig:
    updated = InviteWaveConfig.objects.filter(pk=wave.pk, status__in=sources).update(
        status=target, updated_at=timezone.now(), **extra
    )
    if not updated:
        raise InvalidState(f"A {wave.status} wave cannot become {target}.")
    wave.refresh_from_db()
    return wave


@transaction.atomic
def pause_wave(*, actor: Any, wave: InviteWaveConfig) -> InviteWaveConfig:
    return _move(wave, (WaveStatus.SCHEDULED,), WaveStatus.PAUSED)


@transaction.atomic
def resume_wave(*, actor: Any, wave: InviteWaveConfig) -> InviteWaveConfig:
    return _move(wave, (WaveStatus.PAUSED,), WaveStatus.SCHEDULED)


@transaction.atomic
def cancel_wave(*, actor: Any, wave: InviteWaveConfig) -> InviteWaveConfig:
    return _move(wave, (WaveStatus.SCHEDULED, WaveStatus.PAUSED), WaveStatus.CANCELLED)


@transaction.atomic
def release_now(*, actor: Any, wave: InviteWaveConfig) -> InviteWaveConfig:
    """Make the wave due now (scheduled or paused) and release it after commit (Celery)."""
    wave = _move(
        wave, (WaveStatus.SCHEDULED, WaveStatus.PAUSED), WaveStatus.SCHEDULED, scheduled_at=timezone.now()
    )
    from .. import tasks

    tasks.release_wave.delay_on_commit(str(wave.pk))
    return wave


def _invite(
    entries: list[InviteWaitlist], *, network: Any, wave: Any, ttl_days: int, max_uses: int, actor: Any
) -> int:
    """Bound codes + invited status + invitation mail for ``entries`` (already locked by the caller)."""
    if not entries:
        return 0
    now = timezone.now()
    expires = now + timedelta(days=ttl_days)
    rows = [
        build_code(
            network_id=network.pk,
            kind=InviteCodeKind.WAITLIST,
            bound_email=entry.email,
            waitlist_entry=entry,
            wave=wave,
            max_uses=max_uses,
            expires_at=expires,
            created_by=actor,
        )
        for entry in entries
    ]
    made = insert_codes(rows)
    for entry, code in zip(entries, made, strict=True):
        entry.status = WaitlistStatus.INVITED
        entry.invited_at = now
        entry.invite_code = code
        entry.wave = wave
        entry.updated_at = now
    InviteWaitlist.objects.bulk_update(
        entries, ["status", "invited_at", "invite_code", "wave", "updated_at"], batch_size=1000
    )
    for entry, code in zip(entries, made, strict=True):
        send_invites_mail(
            to=entry.email,
            template="invitation",
            context={
                "code": code.code,
                "signup_url": signup_url(code.code),
                "entry": entry,
                "expires_at": expires,
            },
            network=network,
        )
    return len(entries)


def _member_codes(wave: InviteWaveConfig) -> int:
    if wave.codes_per_user <= 0:
        return 0
    from apps.accounts.models import User

    expires = timezone.now() + timedelta(days=wave.code_ttl_days)
    total = 0
    members = (
        User.objects.filter(network_id=wave.network_id, is_active=True, is_ai=False, state="active")
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    batch: list[InviteCode] = []
    for user_id in members.iterator(chunk_size=2000):
        for _ in range(wave.codes_per_user):
            batch.append(
                build_code(
                    network_id=wave.network_id,
                    kind=InviteCodeKind.MEMBER,
                    owner=None,
                    wave=wave,
                    max_uses=wave.code_max_uses,
                    expires_at=expires,
                    created_by=wave.created_by,
                )
            )
            batch[-1].owner_id = user_id
        if len(batch) >= 2000:
            total += len(insert_codes(batch))
            batch = []
    if batch:
        total += len(insert_codes(batch))
    return total


def release_wave(*, wave_id: Any) -> int:
    """Release one due wave (idempotent); returns how many waitlist entries were invited."""
    with transaction.atomic():
        wave = (
            InviteWaveConfig.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("network", "created_by")
            .filter(pk=wave_id, status=WaveStatus.SCHEDULED, scheduled_at__lte=timezone.now())
            .first()
        )
        if wave is None:
            return 0
        if wave.network.status != "active":
            return 0  # suspended networks' jobs wait
        InviteWaveConfig.objects.filter(pk=wave.pk).update(status=WaveStatus.RELEASING)
        entries = list(
            InviteWaitlist.objects.select_for_update(skip_locked=True)
            .filter(
                network_id=wave.network_id, status=WaitlistStatus.WAITING, email_verified_at__isnull=False
            )
            .order_by("priority_score", "position")[: wave.invite_count]
        )
        invited = _invite(
            entries,
            network=wave.network,
            wave=wave,
            ttl_days=wave.code_ttl_days,
            max_uses=1,
            actor=wave.created_by,
        )
        _member_codes(wave)
        now = timezone.now()
        InviteWaveConfig.objects.filter(pk=wave.pk).update(
            status=WaveStatus.RELEASED, released_at=now, released_count=invited, updated_at=now
        )
        if wave.auto_continue and wave.repeat_every:
            _schedule_next(wave)
        return invited


def _schedule_next(wave: InviteWaveConfig) -> InviteWaveConfig:
    number = (
        InviteWaveConfig.objects.filter(network_id=wave.network_id).aggregate(m=Max("wave_number"))["m"] or 0
    ) + 1
    when = max(wave.scheduled_at + wave.repeat_every, timezone.now() + timedelta(minutes=1))
    return InviteWaveConfig.objects.create(
        network_id=wave.network_id,
        name=wave.name,
        wave_number=number,
        scheduled_at=when,
        invite_count=wave.invite_count,
        codes_per_user=wave.codes_per_user,
        code_max_uses=wave.code_max_uses,
        code_ttl_days=wave.code_ttl_days,
        repeat_every=wave.repeat_every,
        auto_continue=wave.auto_continue,
        created_by=wave.created_by,
    )


def due_wave_ids(*, now: datetime | None = None) -> list[str]:
    now = now or timezone.now()
    return [
        str(pk)
        for pk in InviteWaveConfig.objects.filter(
            status=WaveStatus.SCHEDULED, scheduled_at__lte=now, network__status="active"
        ).values_list("pk", flat=True)[:100]
    ]


@transaction.atomic
def invite_entries(*, actor: Any, network: Any, entries: list[InviteWaitlist], ttl_days: int = 14) -> int:
    """ "Invite selected" (admin and API): confirmed waiting entries get a bound code now; others are skipped."""
    ensure_same_network(network, *entries)
    locked = list(
        InviteWaitlist.objects.select_for_update(skip_locked=True)
        .filter(
            pk__in=[e.pk for e in entries],
            network=network,
            status=WaitlistStatus.WAITING,
            email_verified_at__isnull=False,
        )
        .order_by("priority_score", "position")
    )
    return _invite(locked, network=network, wave=None, ttl_days=ttl_days, max_uses=1, actor=actor)
