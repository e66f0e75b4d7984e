"""Apprise channels: one apprise URL (Slack, Teams, Discord, Telegram, ntfy, Matrix, …) per channel.

apprise is imported lazily: it loads its plugins on first use (a few tenths of a second), which
only the processes that validate or send apprise channels should pay for.

- ``load()`` / ``check_target()``: at save time, a clear error for an unknown scheme, a disabled
  plugin, a URL its plugin refuses, or a host the SSRF guard refuses.
- ``describe()`` / ``redact()``: the form shown back anywhere (dashboard, admin, API, logs): apprise's privacy
  URL (secrets reduced to their first and last character, passwords to ``****``), with the
  query's values hidden too (custom headers such as ``+Authorization=…`` live there).
- ``send()``: one notification through the SSRF guard (``outbound.guard_connections``), with
  the reason of a failure taken from apprise's per-call log (its ``notify()`` result).
"""

from __future__ import annotations

import ipaddress
import logging
import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urlsplit

from tracepoint import outbound

# Plugins that notify the machine Tracepoint runs on (its desktop, syslog or a USB light), not people.
LOCAL_SCHEMES = frozenset({"dbus", "kde", "qt", "glib", "gio", "gnome", "macosx", "windows", "syslog", "blink1"})
_SCHEME_RE = re.compile(r"^([a-z0-9][a-z0-9+.-]*)://", re.IGNORECASE)
# Parts of a URL that may be secret (tokens, passwords, ntfy topics): hidden in recorded errors.
_SECRET_MIN_CHARS = 4

EXAMPLES = {
    "Slack": "slack://TokenA/TokenB/TokenC/#channel",
    "Discord": "discord://webhook_id/webhook_token",
    "Microsoft Teams (workflows)": "workflows://host:port/workflow/signature",
    "Telegram": "tgram://bot_token/chat_id",
    "ntfy": "ntfys://ntfy.sh/your-topic",
    "Mattermost": "mmosts://mattermost.example.com/webhook_token",
    "Matrix": "matrixs://user:password@matrix.example.com/#room",
    "Gotify": "gotifys://gotify.example.com/app_token",
    "Pushover": "pover://user_key@app_token",
    "Opsgenie": "opsgenie://api_key",
    "PagerDuty": "pagerduty://integration_key@api_key",
    "JSON POST": "jsons://hooks.example.com/path",
}


class InvalidAppriseURL(ValueError):
    """The URL cannot be an apprise channel; the message says why, for a form error."""


@dataclass(frozen=True)
class SendResult:
    ok: bool
    error: str = ""
    # The SSRF guard refused the target: no later attempt can succeed.
    refused: bool = False


def _apprise():
    import apprise  # lazy: see the module docstring

    return apprise


def scheme_of(url: str) -> str:
    match = _SCHEME_RE.match(url.strip())
    return match.group(1).lower() if match else ""


def load(url: str, *, asset=None):
    """The apprise plugin instance for ``url``; ``InvalidAppriseURL`` with the reason otherwise."""
    apprise = _apprise()
    from apprise.manager_plugins import NotificationManager

    manager = NotificationManager()
    url = url.strip()
    scheme = scheme_of(url)
    if not scheme:
        raise InvalidAppriseURL("An apprise URL starts with its service's scheme, such as slack:// or ntfys://.")
    if scheme not in manager.schemas():
        raise InvalidAppriseURL(
            f"{scheme}:// is not a service apprise knows. Examples: slack://, discord://, workflows://, "
            "tgram://, ntfys://, mmosts://, matrixs://, json:// (https://github.com/caronc/apprise/wiki)."
        )
    if scheme in LOCAL_SCHEMES:
        raise InvalidAppriseURL(f"{scheme}:// notifies the server Tracepoint runs on, not people: choose a service.")
    plugin_class = manager[scheme]
    if not plugin_class.enabled:
        raise InvalidAppriseURL(
            f"{scheme}:// ({plugin_class.service_name}) needs a Python package this installation does not have."
        )
    from apprise.plugins import url_to_dict

    parsed = url_to_dict(url, secure_logging=True)
    if parsed is None:
        raise InvalidAppriseURL(f"This is not a valid {plugin_class.service_name} URL.")
    try:
        plugin = apprise.Apprise.instantiate(url, asset=asset or _asset(), suppress_exceptions=False)
    except Exception as exc:  # a plugin's constructor says what is wrong with its URL
        raise InvalidAppriseURL(f"This {plugin_class.service_name} URL is not valid: {exc}") from None
    if plugin is None:
        raise InvalidAppriseURL(f"This {plugin_class.service_name} URL is not valid.")
    return plugin


def describe(url: str) -> tuple[str, str]:
    """``(redacted URL, service name)``: what may be shown of a channel, to admins and to everyone."""
    try:
        plugin = load(url)
    except InvalidAppriseURL:
        scheme = scheme_of(url)
        return (f"{scheme}://…" if scheme else "…"), (scheme or "apprise")
    return _redacted(plugin, url), plugin.service_name


def redact(url: str) -> str:
    """``url`` with its secrets hidden: safe to show, log or store next to the channel."""
    return describe(url)[0]


def _redacted(plugin, url: str) -> str:
    base = plugin.url(privacy=True).split("?", 1)[0]
    # Query values may be secrets too (custom headers such as +Authorization=…): only their names show.
    # Split by hand: parse_qsl would read the "+" of +Authorization as a space.
    query = urlsplit(url.strip()).query
    keys = [unquote(part.split("=", 1)[0]) for part in query.split("&") if part]
    return base + ("?" + "&".join(f"{key}=…" for key in dict.fromkeys(keys)) if keys else "")


def _is_host(host: str) -> bool:
    """Whether a plugin's "host" is one: many plugins keep a token there (slack://TokenA/TokenB/TokenC,
    discord://webhook_id/…) and talk to their service's public host, which the connect-time guard
    checks like any other. A name with a dot, an IP literal or localhost is worth a lookup."""
    if host == "localhost" or "." in host:
        return True
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


def target_host(plugin) -> tuple[str, int] | None:
    """The host and port a plugin's URL names, when it names one."""
    host = (getattr(plugin, "host", None) or "").strip().strip("[]")
    if not host or not _is_host(host):
        return None
    port = getattr(plugin, "port", None) or (443 if getattr(plugin, "secure", False) else 80)
    return host, int(port)


def check_target(url: str) -> None:
    """At save time: ``outbound.TargetRefused`` when the URL's host resolves to a refused address."""
    found = target_host(load(url))
    if found:
        outbound.validate_target(*found)


def _asset(*, timeout_seconds: float | None = None):
    apprise = _apprise()
    options = {"async_mode": False}
    if timeout_seconds is not None:
        options["service_timeout"] = timeout_seconds
    return apprise.AppriseAsset(**options)


def supports_markdown(plugin) -> bool:
    apprise = _apprise()
    formats = plugin.notify_format if isinstance(plugin.notify_format, (tuple, list)) else (plugin.notify_format,)
    return apprise.NotifyFormat.MARKDOWN in formats


def _secrets(url: str) -> list[str]:
    """The parts of ``url`` that may be secret: user info, path segments, query values."""
    try:
        parts = urlsplit(url.strip())
        candidates = [parts.username, parts.password]
    except ValueError:
        return []
    host = parts.netloc.rpartition("@")[2].rsplit(":", 1)[0]
    if "." not in host:  # a token where a host would be (slack://TokenA/…), as typed (hostname lowercases)
        candidates.append(host)
    candidates += parts.path.split("/") + [value for _, value in parse_qsl(parts.query)]
    found = {c for c in candidates if c and len(c) >= _SECRET_MIN_CHARS}
    return sorted(found, key=len, reverse=True)


def scrub(text: str, url: str) -> str:
    """``text`` (an error to record) with every secret part of ``url`` replaced by ``…``."""
    for secret in _secrets(url):
        text = text.replace(secret, "…")
    return text


def _reason(result, guard: outbound.ConnectionGuard) -> str:
    if guard.refused:
        return "refused: " + "; ".join(guard.refused)
    messages = [entry.message for entry in result.logs() if entry.level in ("WARNING", "ERROR", "CRITICAL")]
    return " ".join(dict.fromkeys(messages)) or f"apprise reported {result.status.name.lower()}"


def send(
    url: str,
    *,
    title: str,
    body: str,
    markdown: bool,
    notify_type: str,
    timeout_seconds: float,
) -> SendResult:
    """One notification to ``url``: every connection vetted by the SSRF guard, before and while sending.

    ``markdown``: ``body`` is Markdown (sent as such where the plugin takes it; see ``to_text``).
    """
    apprise = _apprise()
    try:
        plugin = load(url, asset=_asset(timeout_seconds=timeout_seconds))
    except InvalidAppriseURL as exc:
        # A saved URL apprise no longer takes (an upgrade, a plugin's missing package): no retry helps.
        return SendResult(ok=False, error=scrub(str(exc), url), refused=True)
    found = target_host(plugin)
    try:
        if found:
            outbound.validate_target(*found)  # a clear reason naming the host; the connect-time check follows
    except outbound.TargetRefused as exc:
        return SendResult(ok=False, error=f"refused: {exc}", refused=True)
    if markdown and not supports_markdown(plugin):
        body, markdown = to_text(body), False
    client = apprise.Apprise()
    client.add(plugin)
    with outbound.guard_connections() as guard:
        result = client.notify(
            body=body,
            title=title,
            notify_type=notify_type,
            body_format=apprise.NotifyFormat.MARKDOWN if markdown else apprise.NotifyFormat.TEXT,
            log_level=logging.WARNING,
        )
    if result and not guard.refused:
        return SendResult(ok=True)
    return SendResult(ok=False, error=scrub(_reason(result, guard), url), refused=bool(guard.refused))


# --- Markdown for plugins that only take text --------------------------------------------------
# One pass, left to right: an escaped character, a link, or the ** of bold text.
_MARKUP_RE = re.compile(r"\\(.)|\[((?:\\.|[^\]\\])*)\]\(([^)\s]+)\)|\*\*", re.DOTALL)
# Only what starts a link, emphasis, code or HTML: chat apps without escapes (Slack) show the rest as typed.
_MARKDOWN_SPECIAL_RE = re.compile(r"([\\`*_\[\]<>])")


def escape_markdown(text: str) -> str:
    """User text inside a Markdown message: no links, emphasis or HTML of its own."""
    return _MARKDOWN_SPECIAL_RE.sub(r"\\\1", str(text))


def to_text(markdown: str) -> str:
    """The Markdown our message templates write (escapes, links, bold) as plain text."""

    def plain(match: re.Match) -> str:
        if match.group(1) is not None:
            return match.group(1)
        if match.group(3) is not None:
            return f"{to_text(match.group(2))}: {match.group(3)}"
        return ""

    return _MARKUP_RE.sub(plain, markdown)
