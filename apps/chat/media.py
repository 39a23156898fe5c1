"""Message attachments: ``MessageMedia`` rows over the core ``Upload`` (SCHEMA §0).

``attach_media`` runs inside the send's transaction: the uploads must be the
sender's, ready and not attached elsewhere (``consume_uploads``), at most
``MAX_MEDIA``; anything else is a 400 on ``media`` and the whole send (seq
included) rolls back. A deleted message's files are released on commit.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from apps.core.exceptions import ValidationFailed
from apps.core.models import Upload
from apps.core.uploads import consume_uploads, release_upload, upload_url

from .models import Message, MessageMedia

MAX_MEDIA = 10


def attach_media(*, message: Message, uploads: list[Any], actor: Any) -> list[MessageMedia]:
    ids = [getattr(u, "pk", u) for u in uploads]
    if len(ids) > MAX_MEDIA:
        raise ValidationFailed(f"A message has at most {MAX_MEDIA} attachments.", field="media")
    rows = {u.pk: u for u in Upload.objects.filter(pk__in=ids, network_id=actor.network_id)}
    if len(rows) != len(set(ids)):
        raise ValidationFailed("An attachment does not exist.", field="media", code="upload_unavailable")
    try:
        ordered = consume_uploads(actor=actor, uploads=[rows[i] for i in ids])
    except ValidationFailed as exc:
        raise ValidationFailed(exc.message, field="media", code=exc.code) from exc
    return MessageMedia.objects.bulk_create(
        MessageMedia(
            network_id=message.network_id,
            message=message,
            upload=upload,
            kind=upload.kind,
            width=upload.width,
            height=upload.height,
            duration_ms=upload.duration_ms,
            position=position,
        )
        for position, upload in enumerate(ordered)
    )


def detach_media(*, message: Message) -> None:
    """Drop a deleted message's attachments; their files go once the tombstone is committed."""
    uploads = [m.upload for m in MessageMedia.objects.filter(message=message).select_related("upload")]
    if not uploads:
        return
    MessageMedia.objects.filter(message=message).delete()
    transaction.on_commit(lambda: [release_upload(upload=u) for u in uploads], robust=True)


def media_payload(media: MessageMedia) -> dict[str, Any]:
    upload = media.upload
    return {
        "id": str(media.pk),
        "kind": media.kind,
        "url": upload_url(upload) or "",
        "mime": upload.mime,
        "size_bytes": upload.size_bytes,
        "width": media.width,
        "height": media.height,
        "alt_text": media.alt_text,
    }


def media_by_message(message_ids: list[Any]) -> dict[Any, list[dict[str, Any]]]:
    """message id → attachment descriptors, in position order: one query."""
    out: dict[Any, list[dict[str, Any]]] = {}
    if not message_ids:
        return out
    for media in (
        MessageMedia.objects.filter(message_id__in=message_ids)
        .select_related("upload")
        .order_by("message_id", "position")
    ):
        out.setdefault(media.message_id, []).append(media_payload(media))
    return out
