"""Uploads: the one way a file enters Colony, for every domain (SCHEMA §0).

Two ways in, one outcome:

* **direct** — ``ingest_upload(actor=, fileobj=, filename=)``: the bytes arrive
  in the request (multipart, any storage); the upload is ready or refused at once.
* **two-step** — ``start_upload(actor=, kind=, mime=, size_bytes=, filename=)``
  makes a *pending* row; with S3 storage it carries a presigned POST (the client
  sends the bytes straight to the bucket, size bounded by the policy), with the
  local storage the client posts the file to ``complete``.
  ``complete_upload(actor=, upload=, fileobj=None)`` then checks the stored bytes.

Checks (``_inspect``): the type is sniffed from the bytes (``filetype``), never
taken from the name or the client's header; it must be in ``ALLOWED_MIME``;
the size must be within the kind's limit (``settings.UPLOAD_MAX_BYTES``);
images are opened with Pillow (size read, decompression bombs refused) and
re-encoded without EXIF (orientation applied first). Refused bytes are never
kept: a direct upload stores nothing, a two-step one becomes ``rejected`` and
its object is deleted.

Attaching: a domain takes ready uploads with ``consume_uploads(actor=,
uploads=, kinds=)`` inside its own transaction — one conditional UPDATE, so
an upload is attached once, by its uploader. Never-attached uploads are
purged by ``purge_stale_uploads`` (hourly).
"""

from __future__ import annotations

import io
import logging
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import IO, Any

import filetype
from django.conf import settings
from django.core.files.base import ContentFile, File
from django.db import transaction
from django.utils import timezone
from PIL import Image, ImageOps, UnidentifiedImageError

from .exceptions import InvalidState, ValidationFailed
from .models import Upload, UploadKind, UploadStatus
from .ratelimit import enforce_network_rate

logger = logging.getLogger(__name__)

#: sniffed MIME type → (kind, file extension); everything else is refused
ALLOWED_MIME: dict[str, tuple[str, str]] = {
    "image/jpeg": (UploadKind.IMAGE, "jpg"),
    "image/png": (UploadKind.IMAGE, "png"),
    "image/gif": (UploadKind.IMAGE, "gif"),
    "image/webp": (UploadKind.IMAGE, "webp"),
    "video/mp4": (UploadKind.VIDEO, "mp4"),
    "video/webm": (UploadKind.VIDEO, "webm"),
    "video/quicktime": (UploadKind.VIDEO, "mov"),
    "application/pdf": (UploadKind.FILE, "pdf"),
    "application/zip": (UploadKind.FILE, "zip"),
    "text/plain": (UploadKind.FILE, "txt"),
}
_PIL_FORMAT = {"image/jpeg": "JPEG", "image/png": "PNG", "image/gif": "GIF", "image/webp": "WEBP"}
SNIFF_BYTES = 8192
RATE_DEFAULT = "60/h"
_UNSAFE_NAME = re.compile(r"[^\w.\- ]+")
#: text that a browser could take for markup is not "plain text"
_MARKUP = re.compile(rb"<\s*(?:html|script|svg|iframe|body|head|object|embed|!doctype|\?xml)", re.I)


@dataclass
class Inspected:
    mime: str
    kind: str
    ext: str
    size_bytes: int
    width: int | None = None
    height: int | None = None
    content: bytes | None = None  # re-encoded image bytes (EXIF stripped), when changed


class Refused(Exception):
    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def max_bytes(kind: str) -> int:
    return int(settings.UPLOAD_MAX_BYTES[kind])


def clean_filename(name: str | None) -> str:
    base = os.path.basename((name or "").replace("\\", "/")).strip()
    base = _UNSAFE_NAME.sub("_", base).strip(" .")
    return base[:200]


def sniff_mime(head: bytes) -> str | None:
    """The MIME type the bytes say they are; UTF-8 text without NULs is ``text/plain``."""
    kind = filetype.guess(head)
    if kind is not None:
        return kind.mime
    if not head or b"\x00" in head:
        return None
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # a multi-byte character cut at the end of the sniffed window is still text
        if exc.start < len(head) - 4:
            return None
    if _MARKUP.search(head):
        return None
    return "text/plain"


def _image_facts(data: bytes, mime: str) -> tuple[int, int, bytes | None]:
    """(width, height, EXIF-free bytes or None when unchanged); raises ``Refused``."""
    try:
        with Image.open(io.BytesIO(data)) as probe:
            if probe.width * probe.height > settings.UPLOAD_MAX_IMAGE_PIXELS:
                raise Refused("The image has too many pixels.", "image_too_large")
            probe.verify()
        image = Image.open(io.BytesIO(data))
        image.load()
    except Image.DecompressionBombError as exc:
        raise Refused("The image has too many pixels.", "image_too_large") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise Refused("The image could not be read.", "image_unreadable") from exc
    if image.format != _PIL_FORMAT[mime]:
        raise Refused("The image's content does not match its type.", "type_mismatch")
    animated = bool(getattr(image, "is_animated", False))
    if mime == "image/gif":
        return image.width, image.height, None  # GIF carries no EXIF; frames kept as sent
    out = io.BytesIO()
    if animated:  # animated WebP: every frame, no metadata
        image.save(out, format=image.format, save_all=True, exif=b"", icc_profile=None)
        return image.width, image.height, out.getvalue()
    image = ImageOps.exif_transpose(image)
    if mime == "image/jpeg":
        if image.mode not in ("RGB", "L", "CMYK"):
            image = image.convert("RGB")
        image.save(out, format="JPEG", quality=90, optimize=True)
    elif mime == "image/png":
        image.save(out, format="PNG", optimize=True)
    else:
        image.save(out, format="WEBP", quality=90)
    return image.width, image.height, out.getvalue()


def _inspect(*, head: bytes, size_bytes: int, read_all: Any, expected_kind: str | None) -> Inspected:
    mime = sniff_mime(head)
    if mime is None or mime not in ALLOWED_MIME:
        raise Refused("This file type is not allowed.", "type_not_allowed")
    kind, ext = ALLOWED_MIME[mime]
    if expected_kind and kind != expected_kind:
        raise Refused(f"The file is a {kind}, not a {expected_kind}.", "type_mismatch")
    if size_bytes <= 0:
        raise Refused("The file is empty.", "empty")
    if size_bytes > max_bytes(kind):
        raise Refused(f"A {kind} may be at most {max_bytes(kind) // (1024 * 1024)} MB.", "too_large")
    facts = Inspected(mime=mime, kind=kind, ext=ext, size_bytes=size_bytes)
    if kind == UploadKind.IMAGE:
        width, height, content = _image_facts(read_all(), mime)
        facts.width, facts.height, facts.content = width, height, content
        if content is not None:
            facts.size_bytes = len(content)
    return facts


def _object_name(upload: Upload, ext: str | None = None) -> str:
    stamp = upload.created_at or timezone.now()
    name = f"uploads/{upload.network_id}/{stamp:%Y/%m}/{upload.pk}"
    return f"{name}.{ext}" if ext else name


def _rate(actor: Any) -> None:
    enforce_network_rate(
        network=actor.network,
        name="uploads",
        subject=actor.pk,
        default=RATE_DEFAULT,
        message="Too many uploads; try again later.",
    )


def _storage() -> Any:
    return Upload._meta.get_field("file").storage


def _is_s3(storage: Any) -> bool:
    return hasattr(storage, "bucket") and hasattr(storage, "bucket_name")


def _fields_from(facts: Inspected) -> dict[str, Any]:
    return {
        "mime": facts.mime,
        "kind": facts.kind,
        "size_bytes": facts.size_bytes,
        "width": facts.width,
        "height": facts.height,
    }


# --- direct --------------------------------------------------------------------------


def ingest_upload(*, actor: Any, fileobj: IO[bytes], filename: str = "", kind: str | None = None) -> Upload:
    """Check and store bytes sent in the request: a ready upload, or ``ValidationFailed``
    (field ``file``) with nothing stored."""
    if kind is not None and kind not in UploadKind.values:
        raise ValidationFailed("Choose image, video or file.", field="kind")
    _rate(actor)
    size = getattr(fileobj, "size", None)
    if size is None:
        fileobj.seek(0, os.SEEK_END)
        size = fileobj.tell()
    fileobj.seek(0)
    head = fileobj.read(SNIFF_BYTES)

    def read_all() -> bytes:
        fileobj.seek(0)
        return fileobj.read()

    try:
        facts = _inspect(head=head, size_bytes=int(size), read_all=read_all, expected_kind=kind)
    except Refused as exc:
        raise ValidationFailed(exc.message, field="file", code=exc.code) from exc
    upload = Upload(
        network_id=actor.network_id,
        uploader=actor,
        filename=clean_filename(filename or getattr(fileobj, "name", "")),
        status=UploadStatus.READY,
        **_fields_from(facts),
    )
    upload.created_at = timezone.now()
    fileobj.seek(0)
    content = ContentFile(facts.content) if facts.content is not None else File(fileobj)
    stored = _storage().save(_object_name(upload, facts.ext), content)
    upload.file.name = stored
    upload.expires_at = timezone.now() + timedelta(hours=settings.UPLOAD_UNCLAIMED_TTL_HOURS)
    try:
        with transaction.atomic():
            upload.save(force_insert=True)
    except Exception:
        _storage().delete(stored)
        raise
    return upload


# --- two-step -------------------------------------------------------------------------


def start_upload(*, actor: Any, kind: str, mime: str, size_bytes: int, filename: str = "") -> Upload:
    """A pending upload; ``presigned_post(upload)`` tells the client where to send the bytes."""
    if kind not in UploadKind.values:
        raise ValidationFailed("Choose image, video or file.", field="kind")
    if mime not in ALLOWED_MIME or ALLOWED_MIME[mime][0] != kind:
        allowed = ", ".join(m for m, (k, _) in ALLOWED_MIME.items() if k == kind)
        raise ValidationFailed(f"A {kind} upload must be one of: {allowed}.", field="mime")
    if size_bytes <= 0:
        raise ValidationFailed("The file is empty.", field="size_bytes")
    if size_bytes > max_bytes(kind):
        raise ValidationFailed(
            f"A {kind} may be at most {max_bytes(kind) // (1024 * 1024)} MB.",
            field="size_bytes",
            code="too_large",
        )
    _rate(actor)
    upload = Upload(
        network_id=actor.network_id,
        uploader=actor,
        kind=kind,
        declared_mime=mime,
        size_bytes=size_bytes,
        filename=clean_filename(filename),
        status=UploadStatus.PENDING,
        expires_at=timezone.now() + timedelta(minutes=settings.UPLOAD_PENDING_TTL_MINUTES),
    )
    upload.created_at = timezone.now()
    upload.file.name = _object_name(upload)
    upload.save(force_insert=True)
    return upload


def presigned_post(upload: Upload) -> dict[str, Any] | None:
    """``{"url", "fields"}`` for a browser POST straight to S3, or None (local storage:
    post the file to ``complete``). The policy pins the key, the Content-Type and the
    size range of the upload's kind."""
    storage = _storage()
    if upload.status != UploadStatus.PENDING or not _is_s3(storage):
        return None
    key = storage._normalize_name(upload.file.name)
    fields = {"Content-Type": upload.declared_mime}
    conditions: list[Any] = [
        {"Content-Type": upload.declared_mime},
        ["content-length-range", 1, max_bytes(upload.kind)],
    ]
    if upload.kind == UploadKind.FILE:
        fields["Content-Disposition"] = "attachment"
        conditions.append({"Content-Disposition": "attachment"})
    remaining = int((upload.expires_at - timezone.now()).total_seconds()) if upload.expires_at else 0
    return storage.bucket.meta.client.generate_presigned_post(
        Bucket=storage.bucket_name,
        Key=key,
        Fields=fields,
        Conditions=conditions,
        ExpiresIn=max(60, remaining),
    )


def _lock_pending(actor: Any, upload: Upload) -> Upload:
    locked = Upload.objects.select_for_update().get(pk=upload.pk)
    if locked.uploader_id != actor.pk:
        from .exceptions import NotFound

        raise NotFound()
    if locked.status != UploadStatus.PENDING:
        raise InvalidState(f"This upload is already {locked.status}.")
    if locked.expires_at and locked.expires_at <= timezone.now():
        raise InvalidState("This upload has expired; start a new one.", code="upload_expired")
    return locked


def _read_stored(storage: Any, name: str) -> tuple[int, bytes, Any]:
    """(size, first bytes, reader of every byte) of a stored object; S3 reads only a range."""
    if _is_s3(storage):
        obj = storage.bucket.Object(storage._normalize_name(name))
        from botocore.exceptions import ClientError

        try:
            size = obj.content_length
        except ClientError as exc:  # 404: the client never sent the bytes
            raise Refused("Nothing was uploaded yet.", "missing") from exc
        head = obj.get(Range=f"bytes=0-{SNIFF_BYTES - 1}")["Body"].read() if size else b""
        return size, head, lambda: obj.get()["Body"].read()
    if not storage.exists(name):
        raise Refused("Nothing was uploaded yet.", "missing")
    size = storage.size(name)
    with storage.open(name, "rb") as handle:
        head = handle.read(SNIFF_BYTES)

    def read_all() -> bytes:
        with storage.open(name, "rb") as handle:
            return handle.read()

    return size, head, read_all


@transaction.atomic
def complete_upload(*, actor: Any, upload: Upload, fileobj: IO[bytes] | None = None) -> Upload:
    """Check the bytes of a pending upload: ready, or rejected (object deleted).

    With local storage ``fileobj`` carries the bytes; with S3 they are already in
    the bucket (sent with the presigned POST). A rejection returns the row with
    ``status=rejected`` and ``reject_reason``; the caller reports it as a 400.
    """
    upload = _lock_pending(actor, upload)
    storage = _storage()
    pending_name = upload.file.name
    if fileobj is not None:
        if _is_s3(storage):
            raise ValidationFailed("Send the file to the presigned URL, then complete.", field="file")
        pending_name = storage.save(pending_name, File(fileobj))
    elif not _is_s3(storage):
        raise ValidationFailed("Attach the file (multipart field 'file').", field="file")
    try:
        size, head, read_all = _read_stored(storage, pending_name)
        facts = _inspect(head=head, size_bytes=size, read_all=read_all, expected_kind=upload.kind)
        if facts.mime != upload.declared_mime:
            raise Refused("The file's content does not match the declared type.", "type_mismatch")
    except Refused as exc:
        if exc.code == "missing":
            raise ValidationFailed(exc.message, field="file", code="missing") from exc
        transaction.on_commit(lambda: storage.delete(pending_name))
        upload.status = UploadStatus.REJECTED
        upload.reject_reason = exc.message[:200]
        upload.file.name = ""
        upload.expires_at = timezone.now() + timedelta(hours=1)  # readable a while, then purged
        upload.save(update_fields=["status", "reject_reason", "file", "expires_at", "updated_at"])
        return upload
    final_name = pending_name
    if facts.content is not None:  # the EXIF-free re-encoding replaces what was sent
        final_name = storage.save(_object_name(upload, facts.ext), ContentFile(facts.content))
        transaction.on_commit(lambda: storage.delete(pending_name))
    for name, value in _fields_from(facts).items():
        setattr(upload, name, value)
    upload.file.name = final_name
    upload.status = UploadStatus.READY
    upload.expires_at = timezone.now() + timedelta(hours=settings.UPLOAD_UNCLAIMED_TTL_HOURS)
    upload.save()
    return upload


# --- attaching --------------------------------------------------------------------------


def consume_uploads(
    *, actor: Any, uploads: Iterable[Upload], kinds: Iterable[str] | None = None
) -> list[Upload]:
    """Mark ready uploads of ``actor`` as attached (call inside the attaching transaction).

    One conditional UPDATE: an upload that is not the actor's, not ready, of a
    kind not in ``kinds`` or already attached fails the whole call with a 400
    on ``uploads`` (field name the caller may rename).
    """
    rows = list(uploads)
    if not rows:
        return []
    ids = {row.pk for row in rows}
    if len(ids) != len(rows):
        raise ValidationFailed("The same upload is listed twice.", field="uploads")
    qs = Upload.objects.filter(
        pk__in=ids,
        network_id=actor.network_id,
        uploader_id=actor.pk,
        status=UploadStatus.READY,
        consumed_at__isnull=True,
    )
    if kinds is not None:
        qs = qs.filter(kind__in=list(kinds))
    now = timezone.now()
    if qs.update(consumed_at=now, expires_at=None) != len(ids):
        raise ValidationFailed(
            "Each upload must be yours, ready, of an allowed kind and not attached elsewhere.",
            field="uploads",
            code="upload_unavailable",
        )
    for row in rows:
        row.consumed_at, row.expires_at = now, None
    return rows


def release_upload(*, upload: Upload) -> None:
    """Delete an attached upload's file and row (its owner row is gone)."""
    name = upload.file.name
    Upload.objects.filter(pk=upload.pk).delete()
    if name:
        transaction.on_commit(lambda: _storage().delete(name))


# --- purge ------------------------------------------------------------------------------


def purge_stale_uploads(*, now: Any = None, batch_size: int = 500) -> int:
    """Delete expired pending uploads, rejected ones and ready ones never attached.

    Claimed with SKIP LOCKED in batches, so two runs never fight; the storage
    object is deleted after the row (a crash leaves an orphan object, never a
    row without its object)."""
    now = now or timezone.now()
    total = 0
    while True:
        with transaction.atomic():
            batch = list(
                Upload.objects.select_for_update(skip_locked=True)
                .filter(consumed_at__isnull=True, expires_at__lt=now)
                .only("id", "file")[:batch_size]
            )
            if not batch:
                break
            names = [row.file.name for row in batch if row.file.name]
            Upload.objects.filter(pk__in=[row.pk for row in batch]).delete()
        storage = _storage()
        for name in names:
            try:
                storage.delete(name)
            except OSError:
                logger.warning("could not delete stale upload object %s", name)
        total += len(batch)
        if len(batch) < batch_size:
            break
    return total


def upload_url(upload: Upload) -> str | None:
    if upload.status != UploadStatus.READY or not upload.file.name:
        return None
    return upload.file.url


__all__ = [
    "ALLOWED_MIME",
    "complete_upload",
    "consume_uploads",
    "ingest_upload",
    "presigned_post",
    "purge_stale_uploads",
    "release_upload",
    "start_upload",
    "upload_url",
]
