"""Caches that depend on organization membership follow every write of a member row.

A member's cached security state (``apps.accounts.selectors.security_state``: the
2FA requirement their organizations' policies add) is dropped on commit whenever
an ``OrganizationMember`` row is saved or deleted — through the services, the
admin, a factory or a fixture alike. Connected in ``OrganizationsConfig.ready``,
and organizations come before every app that reacts to membership in
``INSTALLED_APPS``, so their ``on_commit`` work (chat joining a new member's
sockets to the org's channels, for one) already sees the fresh state.
"""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save


def member_row_changed(sender: Any, instance: Any, **kwargs: Any) -> None:
    from .services._base import forget_security_state_on_commit

    forget_security_state_on_commit([instance.user_id])


def connect() -> None:
    from .models import OrganizationMember

    post_save.connect(
        member_row_changed, sender=OrganizationMember, dispatch_uid="organizations.member_saved"
    )
    post_delete.connect(
        member_row_changed, sender=OrganizationMember, dispatch_uid="organizations.member_deleted"
    )
