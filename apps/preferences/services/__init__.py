"""Writes of the preferences domain, one module per use-case family."""

from .account_settings import update_settings, write_preferences
from .deletion import (
    cancel_account_deletion,
    grace_days,
    purge_account,
    purge_due_accounts,
    register_purge_step,
    request_account_deletion,
    run_deletion_now,
)
from .email_change import (
    cancel_email_change,
    confirm_email_change,
    expire_email_changes,
    request_email_change,
)
from .exports import (
    build_export,
    expire_exports,
    fail_export,
    register_export_section,
    request_data_export,
)
from .login_history import prune_login_history

__all__ = [
    "build_export",
    "cancel_account_deletion",
    "cancel_email_change",
    "confirm_email_change",
    "expire_email_changes",
    "expire_exports",
    "fail_export",
    "grace_days",
    "prune_login_history",
    "purge_account",
    "purge_due_accounts",
    "register_export_section",
    "register_purge_step",
    "request_account_deletion",
    "request_data_export",
    "request_email_change",
    "run_deletion_now",
    "update_settings",
    "write_preferences",
]
