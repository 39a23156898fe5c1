"""Drop a key's cached record when the key row changes (fan-out only).

The cached record holds only the key (``hotpath``); its user and network are
cached on their own and dropped on their own changes
(``apps.accounts.principals``). Services also drop the record on commit of
create, revoke and rotate; this catches every other save (admin edits,
scripts) and deletes.
"""

from __future__ import annotations

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from . import selectors
from .models import ApiKey


@receiver(post_save, sender=ApiKey, dispatch_uid="apikeys.forget_saved_key")
@receiver(post_delete, sender=ApiKey, dispatch_uid="apikeys.forget_deleted_key")
def _key_changed(sender, instance, **kwargs) -> None:
    selectors.forget_prefix(instance.prefix)
