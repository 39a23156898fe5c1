"""Every write of the invites domain (keyword-only, atomic); see each module's docstring for its rules."""

from .grants import apply_community_grants, apply_grants, validate_grants
from .invite_codes import (
    check_code,
    check_code_anonymously,
    generate_codes,
    issue_code,
    redeem_code,
    revoke_code,
    send_code,
)
from .waitlist import (
    WaitlistStanding,
    entry_for_status_token,
    join_waitlist,
    people_ahead,
    remove_entry,
    repair_scores,
    standing,
    verify_waitlist_email,
)
from .waves import (
    cancel_wave,
    create_wave,
    due_wave_ids,
    invite_entries,
    pause_wave,
    release_now,
    release_wave,
    resume_wave,
    update_wave,
)

__all__ = [
    "WaitlistStanding",
    "apply_community_grants",
    "apply_grants",
    "cancel_wave",
    "check_code",
    "check_code_anonymously",
    "create_wave",
    "due_wave_ids",
    "entry_for_status_token",
    "generate_codes",
    "invite_entries",
    "issue_code",
    "join_waitlist",
    "pause_wave",
    "people_ahead",
    "redeem_code",
    "release_now",
    "release_wave",
    "remove_entry",
    "repair_scores",
    "resume_wave",
    "revoke_code",
    "send_code",
    "standing",
    "update_wave",
    "validate_grants",
    "verify_waitlist_email",
]
