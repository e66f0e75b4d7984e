"""Status page logos: uploaded images kept through Django's storage API (MEDIA_ROOT by default) and
served by ``statuspages.public.logo``, never by static or MEDIA_URL serving.

Only raster formats a browser shows as an image are taken, recognised by their first bytes, never by
the file's name or the browser's claimed type. SVG is refused rather than sanitised: it is a document
that can carry scripts and external references, and a logo does not need it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import PurePosixPath

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

# The largest logo taken, in bytes (a status page header shows it 40 px high).
LOGO_MAX_BYTES = 512 * 1024
# A form post carrying a logo may be this large: a logo somewhat over the limit still gets a form error
# saying so, a much larger body is refused (413) before it is read.
LOGO_MAX_REQUEST_BYTES = 2 * LOGO_MAX_BYTES
LOGO_DIR = "statuspages/logos"
ACCEPTED = "image/png,image/jpeg,image/webp,image/gif"


@dataclass(frozen=True)
class Logo:
    data: bytes
    content_type: str
    extension: str


def sniff(head: bytes) -> tuple[str, str] | None:
    """(content type, extension) of an image by its magic bytes; None for anything else."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png", "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg", "jpg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif", "gif"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp", "webp"
    return None


def read_logo(upload) -> Logo:
    """The upload as a ``Logo``, or ValidationError: too large, empty, or not a PNG, JPEG, WebP or GIF."""
    size = getattr(upload, "size", None)
    if size is not None and size > LOGO_MAX_BYTES:
        raise ValidationError(
            f"The logo is {size // 1024} KB; the limit is {LOGO_MAX_BYTES // 1024} KB.", code="too_large"
        )
    upload.seek(0)
    data = upload.read(LOGO_MAX_BYTES + 1)
    if len(data) > LOGO_MAX_BYTES:
        raise ValidationError(f"The logo is over the limit of {LOGO_MAX_BYTES // 1024} KB.", code="too_large")
    if not data:
        raise ValidationError("The file is empty.", code="empty")
    kind = sniff(data[:16])
    if kind is None:
        raise ValidationError(
            "Upload a PNG, JPEG, WebP or GIF image (SVG and other formats are not accepted).", code="not_an_image"
        )
    return Logo(data=data, content_type=kind[0], extension=kind[1])


def store(logo: Logo) -> str:
    """Save the image under a new random name; the stored name (the storage may adjust it)."""
    name = f"{LOGO_DIR}/{secrets.token_urlsafe(18)}.{logo.extension}"
    return default_storage.save(name, ContentFile(logo.data))


def delete(name: str) -> None:
    if name:
        default_storage.delete(name)


def token_of(name: str) -> str:
    """The part of the stored name in the logo's URL: a new upload, a new URL (cacheable for ever)."""
    return PurePosixPath(name).stem if name else ""
