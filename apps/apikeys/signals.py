"""Drop cached API-key principals when their user or network changes."""

from __future__ import annotations

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from apps.accounts.models import User
from apps.accounts.signals import users_changed
from apps.networks.models import Network

from . import selectors
from .models import ApiKey

# saved on every login / request: they never change what a key may do
_IRRELEVANT = frozenset({"last_login", "last_seen_at", "updated_at"})


def _forget(**filters) -> None:
    prefixes = list(ApiKey.objects.filter(**filters).values_list("prefix", flat=True))
    for start in range(0, len(prefixes), 500):
        selectors.forget_prefixes(prefixes[start : start + 500])


@receiver(post_save, sender=User, dispatch_uid="apikeys.forget_user_principals")
@receiver(post_delete, sender=User, dispatch_uid="apikeys.forget_deleted_user_principals")
def _user_changed(sender, instance, update_fields=None, **kwargs) -> None:
    if kwargs.get("created") or (update_fields and set(update_fields) <= _IRRELEVANT):
        return
    _forget(user_id=instance.pk)


@receiver(post_save, sender=Network, dispatch_uid="apikeys.forget_network_principals")
def _network_changed(sender, instance, created=False, **kwargs) -> None:
    if not created:
        _forget(network_id=instance.pk)


@receiver(users_changed, dispatch_uid="apikeys.forget_bulk_user_principals")
def _users_changed(sender, user_ids, **kwargs) -> None:
    _forget(user_id__in=list(user_ids))
