"""The Sentry wire protocol (shared/specs/sentry-ingest.md): reading a request body with a cap, undoing
its Content-Encoding with a second cap (a decompression bomb is a 413, never a memory spike), splitting
an envelope into its items, decoding a legacy ``/store/`` body, and finding the key in the auth headers
or the DSN. The views (``events.sentry``) answer a ``SentryProtocolError`` in the API's error shape.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import uuid
import zlib
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import orjson
from django.http import HttpRequest

try:
    import brotli
except ImportError:  # optional: without it a `br` body is a 415 (SDKs then use gzip)
    brotli = None

READ_CHUNK_BYTES = 64 * 1024


class SentryProtocolError(Exception):
    """Answered with the API error shape plus ``X-Sentry-Error``."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class Malformed(SentryProtocolError):
    def __init__(self, message: str):
        super().__init__(400, message)


class TooLarge(SentryProtocolError):
    def __init__(self, message: str):
        super().__init__(413, message)


# --- body -----------------------------------------------------------------------------


def read_body(request: HttpRequest, *, limit: int) -> bytes:
    """The raw body, at most ``limit`` bytes, without Django's 1 MiB form-data cap.

    A chunked request has no Content-Length: Django then exposes an empty stream, but a
    server that de-chunks (gunicorn) sets ``wsgi.input_terminated`` and its input can be
    read to EOF. The cap is enforced while reading, not trusted from a header. The body
    is kept on the request, so a view retried after a lost database connection
    (``tracepoint.fastpath``) reads it again.
    """
    kept = getattr(request, "_ingest_body", None)
    if kept is not None:
        return kept
    meta = request.META
    if meta.get("CONTENT_LENGTH"):
        stream = request  # Django's LimitedStream; ApiErrorMiddleware already refused a length over the limit
    elif meta.get("wsgi.input_terminated"):
        stream = meta["wsgi.input"]
    else:
        return b""
    chunks, total = [], 0
    while True:
        chunk = stream.read(READ_CHUNK_BYTES)
        if not chunk:
            break
        total += len(chunk)
        if total > limit:
            raise TooLarge(f"The request body is over the limit of {limit} bytes.")
        chunks.append(chunk)
    request._ingest_body = b"".join(chunks)
    return request._ingest_body


def _inflate(data: bytes, *, wbits: int, limit: int) -> bytes:
    decompressor = zlib.decompressobj(wbits)
    out = bytearray()
    try:
        while True:
            chunk = decompressor.decompress(data, limit + 1 - len(out))
            out += chunk
            if len(out) > limit:
                raise TooLarge(f"The decompressed body is over the limit of {limit} bytes.")
            data = decompressor.unconsumed_tail
            if decompressor.eof or (not chunk and not data):
                break
    except zlib.error as exc:
        raise Malformed(f"Cannot decompress the body: {exc}.") from None
    if not decompressor.eof:
        raise Malformed("The compressed body is truncated.")
    return bytes(out)


def _unbrotli(data: bytes, *, limit: int) -> bytes:
    decompressor = brotli.Decompressor()
    out = bytearray()
    try:
        out += decompressor.process(data, output_buffer_limit=limit + 1)
        while len(out) <= limit and not decompressor.can_accept_more_data():
            out += decompressor.process(b"", output_buffer_limit=limit + 1 - len(out))
    except brotli.error as exc:
        raise Malformed(f"Cannot decompress the body: {exc}.") from None
    if len(out) > limit:
        raise TooLarge(f"The decompressed body is over the limit of {limit} bytes.")
    if not decompressor.is_finished():
        raise Malformed("The compressed body is truncated.")
    return bytes(out)


def inflate_deflate(data: bytes, *, limit: int) -> bytes:
    """``deflate`` means zlib-wrapped, but some clients send raw deflate: accept both."""
    try:
        return _inflate(data, wbits=zlib.MAX_WBITS, limit=limit)
    except TooLarge:
        raise
    except Malformed:
        return _inflate(data, wbits=-zlib.MAX_WBITS, limit=limit)


def _codings(content_encoding: str) -> list[str]:
    """The codings of a ``Content-Encoding`` in the order applied, lowercased, without ``identity``."""
    codings = (c.strip().lower() for c in (content_encoding or "").split(","))
    return [c for c in codings if c and c != "identity"]


def normal_encoding(content_encoding: str) -> str:
    """``Content-Encoding`` as ``decode_content`` reads it."""
    return ", ".join(_codings(content_encoding))


def decode_content(data: bytes, content_encoding: str, *, limit: int) -> bytes:
    """Undo ``Content-Encoding`` (codings are listed in the order applied), capping the output."""
    for coding in reversed(_codings(content_encoding)):
        if coding in ("gzip", "x-gzip"):
            data = _inflate(data, wbits=zlib.MAX_WBITS | 16, limit=limit)
        elif coding == "deflate":
            data = inflate_deflate(data, limit=limit)
        elif coding == "br" and brotli is not None:
            data = _unbrotli(data, limit=limit)
        else:
            raise SentryProtocolError(415, f"Unsupported Content-Encoding {coding!r}.")
    if len(data) > limit:  # identity bodies count too
        raise TooLarge(f"The decompressed body is over the limit of {limit} bytes.")
    return data


# --- envelope -------------------------------------------------------------------------


@dataclass
class Envelope:
    headers: dict[str, Any]
    items: list[tuple[dict[str, Any], bytes]] = field(default_factory=list)
    # Every item, kept or not: an envelope whose only item is its event can be stored as it came.
    item_count: int = 0


_UNREAD = object()


def json_object(raw: bytes, what: str, *, exact: bool = False) -> dict[str, Any]:
    """The JSON object in ``raw``, or Malformed. orjson reads it in about half the stdlib's time but reads
    integers over 64 bits as floats: ``exact`` reads with the stdlib alone (what is stored must keep them)."""
    value = _UNREAD
    if not exact:
        # NaN and Infinity, escaped lone surrogates: orjson refuses them, SDKs send them, the stdlib reads them.
        with contextlib.suppress(orjson.JSONDecodeError):
            value = orjson.loads(raw)
    if value is _UNREAD:
        try:
            value = json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise Malformed(f"The {what} is not valid JSON (or nested too deeply).") from None
    if not isinstance(value, dict):
        raise Malformed(f"The {what} must be a JSON object.")
    return value


def parse_envelope(body: bytes, *, keep: frozenset[str] = frozenset({"event"})) -> Envelope:
    """Split an envelope into its header and items; payloads are kept only for ``keep`` types.

    An item header may carry ``length`` (read exactly that many bytes, then ``\\n`` or EOF)
    or not (the payload runs to the next ``\\n`` or EOF). Both forms occur in the wild.
    """
    if not body.strip():
        raise Malformed("The envelope is empty (no header line).")
    end = body.find(b"\n")
    end = len(body) if end == -1 else end
    envelope = Envelope(headers=json_object(body[:end], "envelope header"))
    pos, size = end + 1, len(body)
    while pos < size:
        end = body.find(b"\n", pos)
        end = size if end == -1 else end
        line = body[pos:end]
        pos = end + 1
        if not line.strip():
            continue  # a blank line between items or at the end
        header = json_object(line, "item header")
        item_type = header.get("type")
        if not isinstance(item_type, str) or not item_type:
            raise Malformed("An item header has no type.")
        length = header.get("length")
        if length is not None:
            if isinstance(length, bool) or not isinstance(length, int) or length < 0:
                raise Malformed("An item header has an invalid length.")
            if pos + length > size:
                raise Malformed("An item is shorter than its length.")
            payload = body[pos : pos + length]
            pos += length
            if pos < size:
                if body[pos : pos + 1] != b"\n":
                    raise Malformed("An item is longer than its length.")
                pos += 1
        else:
            end = body.find(b"\n", pos)
            end = size if end == -1 else end
            payload = body[pos:end]
            pos = end + 1
        envelope.item_count += 1
        if item_type in keep:
            envelope.items.append((header, payload))
    return envelope


def parse_event_id(value: Any) -> uuid.UUID | None:
    if isinstance(value, str) and value.strip():
        try:
            return uuid.UUID(value.strip())
        except ValueError:
            return None
    return None


def decode_store_body(body: bytes, *, limit: int) -> bytes:
    """Relay's legacy decoding, after Content-Encoding: base64 if not JSON, then zlib if still not."""
    if body.lstrip()[:1] != b"{":
        try:
            body = base64.b64decode(b"".join(body.split()), validate=False)
        except (binascii.Error, ValueError):
            raise Malformed("The body is neither JSON nor base64.") from None
        if body.lstrip()[:1] != b"{":
            body = inflate_deflate(body, limit=limit)
    return body


# --- authentication -------------------------------------------------------------------


def parse_auth_header(value: str, *, require_prefix: bool) -> dict[str, str]:
    """``Sentry sentry_key=…, sentry_version=7, …`` → a dict (the prefix is case-insensitive)."""
    value = (value or "").strip()
    if value[:7].lower() == "sentry ":
        value = value[7:]
    elif require_prefix:
        return {}
    pairs = {}
    for part in value.split(","):
        name, sep, val = part.strip().partition("=")
        if sep:
            pairs[name.strip().lower()] = val.strip().strip("'\"")
    return pairs


def sentry_key_from_request(request: HttpRequest) -> str | None:
    """The public key from ``X-Sentry-Auth``, ``Authorization: Sentry …`` or ``?sentry_key=``."""
    found = []
    for meta_name, require_prefix in (("HTTP_X_SENTRY_AUTH", False), ("HTTP_AUTHORIZATION", True)):
        key = parse_auth_header(request.META.get(meta_name, ""), require_prefix=require_prefix).get("sentry_key")
        if key:
            found.append(key)
    # SDKs send the key in a header and no query string: QueryDict is not built for nothing.
    if request.META.get("QUERY_STRING") and request.GET.get("sentry_key"):
        found.append(request.GET["sentry_key"])
    if len(set(found)) > 1:
        raise SentryProtocolError(400, "The request names several different keys.")
    return found[0] if found else None


def key_from_dsn(dsn: Any) -> str | None:
    if not isinstance(dsn, str) or not dsn:
        return None
    try:
        return urlsplit(dsn.strip()).username or None
    except ValueError:
        return None
