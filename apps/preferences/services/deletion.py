"""Account deletion: request (password + TOTP) → grace period → purge in idempotent steps.

The purge of one request runs in one transaction while holding the request
row (``FOR UPDATE SKIP LOCKED``): two workers never purge the same account,
and a failing step rolls every step back before the request is marked
``failed`` (retried by the next run). Each step only touches what is still
there, so running the purge again is harmless.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from allauth.account.models import EmailAddress
from allauth.socialaccount.models import SocialAccount, SocialToken
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.accounts.models import User
from apps.accounts.selectors import forget_security_state
from apps.accounts.services import (
    confirm_password,
    revoke_all_sessions,
    revoke_other_sessions,
    set_agents_status,
)
from apps.accounts.signals import send_users_changed_on_commit
from apps.apikeys.models import ApiKey
from apps.core import audit
from apps.core.exceptions import InvalidState, NotFound

from ..mail import send_account_mail_on_commit
from ..models import (
    AccountDeletionRequest,
    DataExport,
    PendingEmailChange,
    UserPreferences,
    UserSettings,
)
from .reauth import check_second_factor

logger = logging.getLogger(__name__)

Status = AccountDeletionRequest.Status
#: a failed purge is retried once per job run until it has failed this often (then staff: "run now")
MAX_PURGE_ATTEMPTS = 10
DELETED_DISPLAY_NAME = "Deleted user"

PurgeStep = Callable[[User], None]
_EXTRA_PURGE_STEPS: list[tuple[str, PurgeStep]] = []


def register_purge_step(name: str) -> Callable[[PurgeStep], PurgeStep]:
    """Extension point for later domains (push tokens, integrations, memory facts, balances).

    The step runs inside the purge transaction before the user is anonymised;
    it must be idempotent, and raising blocks completion (the request is
    marked ``failed`` with the error and retried).
    """

    def register(fn: PurgeStep) -> PurgeStep:
        if name not in {n for n, _ in _EXTRA_PURGE_STEPS}:
            _EXTRA_PURGE_STEPS.append((name, fn))
        return fn

    return register


def grace_days(network: Any) -> int:
    value = (getattr(network, "settings", None) or {}).get("deletion_grace_days")
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return settings.ACCOUNT_DELETION_GRACE_DAYS


@transaction.atomic
def request_account_deletion(
    *,
    actor: User,
    password: str,
    code: str | None = None,
    reason: str = "",
    current_session_key: str | None = None,
) -> AccountDeletionRequest:
    confirm_password(user=actor, password=password)
    check_second_factor(user=actor, code=code)
    user = User.objects.select_for_update().select_related("network").get(pk=actor.pk)
    if user.state != User.State.ACTIVE:
        raise InvalidState("Your account is already scheduled for deletion.", code="deletion_pending")
    now = timezone.now()
    try:
        with transaction.atomic():
            deletion = AccountDeletionRequest.objects.create(
                network_id=user.network_id,
                user=user,
                requested_by=actor,
                reason=reason,
                scheduled_at=now + timedelta(days=grace_days(user.network)),
            )
    except IntegrityError as exc:
        raise InvalidState(
            "Your account is already scheduled for deletion.", code="deletion_pending"
        ) from exc
    User.objects.filter(pk=user.pk, state=User.State.ACTIVE).update(
        state=User.State.PENDING_DELETION, updated_at=now
    )
    send_users_changed_on_commit([user.pk])
    revoke_other_sessions(actor=user, current_session_key=current_session_key)
    if user.email:
        send_account_mail_on_commit(
            to=user.email,
            template="deletion_scheduled",
            context={"user": user, "scheduled_at": deletion.scheduled_at},
            network=user.network,
        )
    audit.record(
        network=user.network_id,
        actor=actor,
        action="account.deletion.requested",
        target=deletion,
        data={"scheduled_at": deletion.scheduled_at.isoformat()},
    )
    from apps.inbox.services import report_security_event

    report_security_event(
        user=user,
        event="deletion_requested",
        title="Your account is scheduled for deletion",
        body=f"It will be deleted on {deletion.scheduled_at:%Y-%m-%d}; you can cancel until then.",
        target_type="accountdeletionrequest",
        target_id=deletion.pk,
        mailed=bool(user.email),
    )
    return deletion


@transaction.atomic
def cancel_account_deletion(*, actor: User, deletion: AccountDeletionRequest) -> AccountDeletionRequest:
    """The user cancels a pending request during the grace period; staff may also cancel a failed one."""
    now = timezone.now()
    is_own = actor.pk == deletion.user_id
    if not is_own and not actor.is_staff:
        raise NotFound()
    if is_own:
        rows = AccountDeletionRequest.objects.filter(
            pk=deletion.pk, status=Status.PENDING, scheduled_at__gt=now
        )
    else:
        rows = AccountDeletionRequest.objects.filter(
            pk=deletion.pk, status__in=[Status.PENDING, Status.FAILED]
        )
    if not rows.update(status=Status.CANCELLED, cancelled_at=now, updated_at=now):
        raise InvalidState("This deletion can no longer be cancelled.")
    User.objects.filter(pk=deletion.user_id, state=User.State.PENDING_DELETION).update(
        state=User.State.ACTIVE, updated_at=now
    )
    send_users_changed_on_commit([deletion.user_id])
    audit.record(
        network=deletion.network_id, actor=actor, action="account.deletion.cancelled", target=deletion
    )
    deletion.refresh_from_db()
    return deletion


# --- purge ------------------------------------------------------------------------


def _revoke_sessions(user: User) -> None:
    revoke_all_sessions(user=user)


def _revoke_api_keys(user: User) -> None:
    from apps.apikeys.selectors import forget_prefixes

    live = ApiKey.objects.filter(user=user, revoked_at__isnull=True)
    prefixes = list(live.values_list("prefix", flat=True))
    live.update(revoked_at=timezone.now(), revoke_reason="account deleted", updated_at=timezone.now())
    if prefixes:  # the authenticator caches prefix lookups: drop them once the revocation is visible
        transaction.on_commit(lambda: forget_prefixes(prefixes))


def _delete_otp_devices(user: User) -> None:
    TOTPDevice.objects.filter(user=user).delete()
    StaticDevice.objects.filter(user=user).delete()
    transaction.on_commit(lambda: forget_security_state(user.pk))


def _delete_social_and_addresses(user: User) -> None:
    SocialToken.objects.filter(account__user=user).delete()
    SocialAccount.objects.filter(user=user).delete()
    EmailAddress.objects.filter(user=user).delete()


def _delete_settings(user: User) -> None:
    UserSettings.objects.filter(user=user).delete()
    UserPreferences.objects.filter(user=user).delete()
    PendingEmailChange.objects.filter(user=user).delete()
    names = [name for name in DataExport.objects.filter(user=user).values_list("file", flat=True) if name]
    DataExport.objects.filter(user=user).delete()
    if names:
        transaction.on_commit(lambda: [default_storage.delete(name) for name in names])


def _disable_own_agents(user: User) -> None:
    set_agents_status(agents=User.objects.filter(agent_owner_user=user), status=User.AgentStatus.DISABLED)


def anonymised_handle(user: User) -> str:
    return f"deleted_{user.pk.hex[-12:]}"


def _anonymise_user(user: User) -> None:
    avatar = user.avatar.name if user.avatar else ""
    user.display_name = DELETED_DISPLAY_NAME
    user.email = None  # deleted accounts keep no address (the CHECK allows NULL once state is deleted)
    user.handle = anonymised_handle(user)
    user.avatar = None
    user.bio = ""
    user.signup_attribution = {}
    user.last_seen_at = None
    user.is_active = False
    user.state = User.State.DELETED
    user.set_unusable_password()
    user.save(
        update_fields=[
            "display_name",
            "email",
            "handle",
            "avatar",
            "bio",
            "signup_attribution",
            "last_seen_at",
            "is_active",
            "state",
            "password",
            "updated_at",
        ]
    )
    if avatar:
        transaction.on_commit(lambda: default_storage.delete(avatar))


BUILTIN_PURGE_STEPS: list[tuple[str, PurgeStep]] = [
    ("sessions", _revoke_sessions),
    ("api_keys", _revoke_api_keys),
    ("otp_devices", _delete_otp_devices),
    ("social_accounts_and_addresses", _delete_social_and_addresses),
    ("settings", _delete_settings),
    ("agents", _disable_own_agents),
]


def purge_steps() -> list[tuple[str, PurgeStep]]:
    return [*BUILTIN_PURGE_STEPS, *_EXTRA_PURGE_STEPS, ("anonymise", _anonymise_user)]


def _claim(*, deletion_id: Any, now: Any, run_started_at: Any, force: bool) -> AccountDeletionRequest | None:
    rows = AccountDeletionRequest.objects.select_for_update(skip_locked=True)
    if deletion_id is not None:
        rows = rows.filter(pk=deletion_id, status__in=[Status.PENDING, Status.FAILED])
        if not force:
            rows = rows.filter(scheduled_at__lte=now)
    else:
        rows = rows.filter(
            Q(status=Status.PENDING)
            | Q(
                status=Status.FAILED,
                attempts__lt=MAX_PURGE_ATTEMPTS,
                last_attempt_at__lt=run_started_at,
            ),
            scheduled_at__lte=now,
        ).order_by("scheduled_at")
    return rows.first()


def purge_account(
    *, deletion_id: Any = None, actor: User | None = None, force: bool = False, run_started_at: Any = None
) -> AccountDeletionRequest | None:
    """Purge one due request (or ``deletion_id``; ``force`` ignores the schedule: staff "run now").

    Returns the request in its final state, or None when nothing was claimable
    (not due, already done, or another worker holds it).
    """
    now = timezone.now()
    with transaction.atomic():
        deletion = _claim(deletion_id=deletion_id, now=now, run_started_at=run_started_at or now, force=force)
        if deletion is None:
            return None
        user = User.objects.select_for_update().get(pk=deletion.user_id)
        current = ""
        try:
            with transaction.atomic():
                for name, run in purge_steps():
                    current = name
                    run(user)
        except Exception as exc:  # noqa: BLE001 — any step failing is recorded on the request, then retried
            logger.exception("account purge of %s failed at step %s", deletion.user_id, current)
            deletion.status = Status.FAILED
            deletion.error = f"{current}: {type(exc).__name__}: {exc}"[:2000]
            deletion.attempts += 1
            deletion.last_attempt_at = now
            deletion.save(update_fields=["status", "error", "attempts", "last_attempt_at", "updated_at"])
            return deletion
        deletion.status = Status.COMPLETED
        deletion.completed_at = now
        deletion.error = ""
        deletion.attempts += 1
        deletion.last_attempt_at = now
        deletion.save(
            update_fields=["status", "completed_at", "error", "attempts", "last_attempt_at", "updated_at"]
        )
        audit.record(
            network=deletion.network_id,
            actor=actor,
            action="account.deletion.completed",
            target=deletion,
            data={"user_id": str(deletion.user_id), "forced": force},
        )
    return deletion


def purge_due_accounts(*, limit: int = 100) -> dict[str, int]:
    """The hourly job: purge every due request (each in its own transaction)."""
    started = timezone.now()
    counts = {"completed": 0, "failed": 0}
    for _ in range(limit):
        deletion = purge_account(run_started_at=started)
        if deletion is None:
            break
        counts[deletion.status] = counts.get(deletion.status, 0) + 1
    return counts


def run_deletion_now(*, actor: User, deletion: AccountDeletionRequest) -> AccountDeletionRequest:
    """Staff: purge now, before the grace period ends (audited with ``forced``)."""
    result = purge_account(deletion_id=deletion.pk, actor=actor, force=True)
    if result is None:
        raise InvalidState("This request is not pending, or a purge of it is running right now.")
    return result
