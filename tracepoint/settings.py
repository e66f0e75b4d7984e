"""Tracepoint settings, read from the environment (see README "Settings").

No env vars → the embedded default: SQLite (WAL) and a filesystem Celery broker
under ``var/``, a file cache, console email. ``DATABASE_URL``/``REDIS_URL``
switch to PostgreSQL and Redis.

One module on purpose, longer than the others: every setting and product limit is read here, from
the environment, in one place (STYLE.md), so there is one file to read to know what can be set.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import secrets
from pathlib import Path

import dj_database_url
import dj_email_url
from celery.schedules import crontab

from tracepoint import logging as tracepoint_logging
from tracepoint.lib.env import (
    SettingError,
    env_bool,
    env_choice,
    env_int,
    env_list,
    env_rate,
    env_secret,
    env_str,
    env_url,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("TRACEPOINT_VAR_DIR", str(BASE_DIR / "var"))).resolve()
try:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
except OSError as _exc:
    raise SettingError("TRACEPOINT_VAR_DIR", f"cannot create {str(VAR_DIR)!r}: {_exc.strerror}") from None

# --- core -------------------------------------------------------------------
DEBUG = env_bool("DEBUG", True)


def _secret_key() -> str:
    key = env_secret("SECRET_KEY")
    if key:
        if len(key) < 32 and not DEBUG:
            raise SettingError("SECRET_KEY", "must be at least 32 characters when DEBUG is off")
        return key
    if not DEBUG:
        raise SettingError("SECRET_KEY", "is required when DEBUG is off (or set SECRET_KEY_FILE)")
    # Development: generate once and keep it, so sessions survive restarts.
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_urlsafe(50))
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
SECURE_SSL = env_bool("SECURE_SSL", False)
SESSION_COOKIE_SECURE = SECURE_SSL
CSRF_COOKIE_SECURE = SECURE_SSL
SECURE_SSL_REDIRECT = SECURE_SSL
if SECURE_SSL:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = 31536000
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Number of reverse proxies in front of the app whose X-Forwarded-For we trust.
NUM_PROXIES = env_int("NUM_PROXIES", 0, minimum=0, maximum=10)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.forms",  # its widget templates, for FORM_RENDERER
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "template_partials",
    "django_celery_beat",
    "tracepoint.apps.TracepointConfig",
    "tracepoint.accounts",
    "tracepoint.notifications",
    "incidents",
    "incidents.intake",
    "incidents.oncall",
    "events",
    "monitors",
    "statuspages",
]

MIDDLEWARE = [
    "tracepoint.middleware.RequestIdMiddleware",
    "tracepoint.middleware.ProbeMiddleware",
    "tracepoint.middleware.ApiErrorMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "tracepoint.middleware.PageWriteRateLimitMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last: it calls the view itself, again after a lost database connection (safe methods only).
    "tracepoint.middleware.DatabaseRetryMiddleware",
]

# Invitation links (and password resets) stop working after this many days, or once used.
PASSWORD_RESET_TIMEOUT = env_int("INVITATION_DAYS", 3, minimum=1, maximum=30) * 86400

ROOT_URLCONF = "tracepoint.urls"
WSGI_APPLICATION = "tracepoint.wsgi.application"
CSRF_FAILURE_VIEW = "tracepoint.views.csrf_failure"

# Every form renders through the dashboard's form components (tracepoint/forms.py).
FORM_RENDERER = "tracepoint.forms.FormRenderer"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "tracepoint.context_processors.navigation",
            ],
        },
    },
]

# --- database ---------------------------------------------------------------
_DEFAULT_DATABASE_URL = f"sqlite:///{VAR_DIR / 'tracepoint.sqlite3'}"
DATABASE_URL = env_url("DATABASE_URL", _DEFAULT_DATABASE_URL, schemes=("sqlite", "postgres", "postgresql", "pgsql"))
try:
    _database = dj_database_url.parse(
        DATABASE_URL,
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60, minimum=0),
        conn_health_checks=True,
    )
except ValueError as exc:  # pragma: no cover - env_url already checks the scheme
    raise SettingError("DATABASE_URL", str(exc)) from None
if _database["ENGINE"] == "django.db.backends.sqlite3":
    # Several processes (web, worker, beat) share the file: WAL lets readers
    # run beside a writer, IMMEDIATE + a busy timeout make writers queue
    # instead of failing with "database is locked". Connections are kept like
    # PostgreSQL's (DATABASE_CONN_MAX_AGE): opening one runs the PRAGMAs below,
    # which cost a web process more than the ingest insert it opens it for.
    _database["CONN_HEALTH_CHECKS"] = False
    _database["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
else:
    _database.setdefault("OPTIONS", {})
    _database["OPTIONS"].setdefault("connect_timeout", env_int("DATABASE_CONNECT_TIMEOUT", 5, minimum=1))
DATABASES = {"default": _database}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- cache and Redis --------------------------------------------------------
REDIS_URL = env_url("REDIS_URL", None, schemes=("redis", "rediss", "unix"))
CACHE_KEY_PREFIX = env_str("CACHE_KEY_PREFIX", "tp")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "tracepoint.cache.ReusingRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": CACHE_KEY_PREFIX,
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
            "KEY_PREFIX": CACHE_KEY_PREFIX,
        }
    }

# --- Celery -----------------------------------------------------------------
CELERY_BROKER_URL = env_url(
    "CELERY_BROKER_URL",
    REDIS_URL or "filesystem://localhost//",
    schemes=("redis", "rediss", "amqp", "amqps", "filesystem", "sqla+postgresql", "sqla+sqlite"),
)
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "celery" / "broker"
    _processed_dir = VAR_DIR / "celery" / "processed"
    _control_dir = VAR_DIR / "celery" / "control"
    for _folder in (_broker_dir, _processed_dir, _control_dir):
        _folder.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir),
        "data_folder_out": str(_broker_dir),
        "processed_folder": str(_processed_dir),
        # kombu's default is a relative "control" folder in the working directory.
        "control_folder": str(_control_dir),
        "store_processed": False,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
if CELERY_BROKER_URL.startswith("redis://"):
    # kombu's Redis transport, fixed so that a worker survives a Redis restart (tracepoint/broker.py).
    CELERY_BROKER_TRANSPORT = "tracepoint.broker:Transport"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_CONCURRENCY = env_int("CELERY_WORKER_CONCURRENCY", 2, minimum=1)
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# django-celery-beat's database scheduler, sending only while this beat holds the beat lock
# (tracepoint/beat.py): any number of beats may run, one sends. Each run is written as it is sent,
# so a standby that takes over does not send it again.
CELERY_BEAT_SCHEDULER = "tracepoint.beat:LockedDatabaseScheduler"
CELERY_BEAT_SYNC_EVERY = 1
# Beat queues a heartbeat this often; /ready fails when the last one a worker recorded is older
# than WORKER_HEARTBEAT_MAX_AGE_SECONDS (default: three intervals, at least 90 s).
HEARTBEAT_INTERVAL_SECONDS = env_int("HEARTBEAT_INTERVAL_SECONDS", 30, minimum=1)
# UTC hour of the daily summary email; DIGEST_HOUR is its older name, still read when it is not set.
DAILY_SUMMARY_HOUR = env_int(
    "DAILY_SUMMARY_HOUR", env_int("DIGEST_HOUR", 7, minimum=0, maximum=23), minimum=0, maximum=23
)
# How often beat runs the due escalation steps (and page contacts): a step or an acknowledgement
# takes effect within one tick.
ESCALATION_TICK_SECONDS = env_int("ESCALATION_TICK_SECONDS", 5, minimum=1, maximum=60)
# Global periodic tasks (the database scheduler copies them into its tables).
CELERY_BEAT_SCHEDULE = {
    "worker-heartbeat": {
        "task": "tracepoint.record_heartbeat",
        "schedule": float(HEARTBEAT_INTERVAL_SECONDS),
    },
    "purge-idempotency-keys": {"task": "incidents.purge_idempotency_keys", "schedule": 3600.0},
    "purge-rate-limit-counters": {"task": "tracepoint.purge_rate_limit_counters", "schedule": 3600.0},
    "sweep-undigested-events": {"task": "events.sweep_undigested", "schedule": 10.0},
    "flush-dropped-event-counts": {"task": "events.flush_dropped_counts", "schedule": 30.0},
    "resolve-quiet-issues": {"task": "events.resolve_quiet_issues", "schedule": 60.0},
    "refresh-issue-impact": {"task": "events.refresh_issue_impact", "schedule": 60.0},
    "mark-late-heartbeats": {"task": "monitors.mark_late_heartbeats", "schedule": 30.0},
    "apply-pending-pings": {"task": "monitors.apply_pending_pings", "schedule": 5.0},
    "advance-maintenances": {"task": "statuspages.advance_maintenances", "schedule": 30.0},
    "run-due-checks": {"task": "monitors.run_due_checks", "schedule": 5.0},
    # Every probe location in use gets a small task on its queue (monitors.locations): a probe that
    # stops answering is flagged even while it has no checks to run.
    "ping-probe-locations": {"task": "monitors.ping_probes", "schedule": 30.0},
    "refresh-monitor-uptime": {"task": "monitors.refresh_uptime", "schedule": 300.0},
    "run-due-escalations": {"task": "oncall.run_due_escalations", "schedule": float(ESCALATION_TICK_SECONDS)},
    "send-shift-notices": {"task": "oncall.send_shift_notices", "schedule": 60.0},
    "trim-monitor-rollups": {"task": "monitors.trim_rollups", "schedule": crontab(hour=3, minute=41)},
    "send-daily-summaries": {
        "task": "events.send_daily_summaries",
        "schedule": crontab(hour=DAILY_SUMMARY_HOUR, minute=0),
    },
    "delete-old-events": {"task": "events.delete_old_events", "schedule": crontab(hour=3, minute=17)},
    "delete-old-issue-activity": {"task": "events.delete_old_activity", "schedule": crontab(hour=3, minute=23)},
    "purge-expired-sessions": {"task": "tracepoint.purge_expired_sessions", "schedule": crontab(hour=3, minute=35)},
    "delete-old-deliveries": {"task": "notifications.delete_old_deliveries", "schedule": crontab(hour=3, minute=29)},
    "delete-old-alert-data": {"task": "intake.delete_old_alert_data", "schedule": crontab(hour=3, minute=47)},
}
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)

# --- email ------------------------------------------------------------------
EMAIL_URL = env_secret("EMAIL_URL")
if EMAIL_URL:
    try:
        _email = dj_email_url.parse(EMAIL_URL)
    except Exception as exc:  # dj-email-url raises plain exceptions on unknown schemes
        raise SettingError("EMAIL_URL", f"not a valid email URL ({exc})") from None
    if "EMAIL_BACKEND" not in _email:
        raise SettingError(
            "EMAIL_URL", "unknown scheme; use smtp://, submission:// (STARTTLS, 587), smtps:// (465) or console://"
        )
    EMAIL_BACKEND = _email["EMAIL_BACKEND"]
    EMAIL_HOST = _email["EMAIL_HOST"]
    EMAIL_PORT = _email["EMAIL_PORT"]
    EMAIL_HOST_USER = _email["EMAIL_HOST_USER"]
    EMAIL_HOST_PASSWORD = _email["EMAIL_HOST_PASSWORD"]
    EMAIL_USE_TLS = _email["EMAIL_USE_TLS"]
    EMAIL_USE_SSL = _email["EMAIL_USE_SSL"]
    EMAIL_TIMEOUT = _email["EMAIL_TIMEOUT"] or 10
else:
    EMAIL_HOST = env_str("EMAIL_HOST")
    EMAIL_BACKEND = (
        "django.core.mail.backends.smtp.EmailBackend"
        if EMAIL_HOST
        else "django.core.mail.backends.console.EmailBackend"
    )
    EMAIL_BACKEND = env_str("EMAIL_BACKEND", EMAIL_BACKEND)
    EMAIL_HOST = EMAIL_HOST or "localhost"
    EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1, maximum=65535)
    EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
    EMAIL_HOST_PASSWORD = env_secret("EMAIL_HOST_PASSWORD", "")
    EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
    EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
    EMAIL_TIMEOUT = 10
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise SettingError("EMAIL_USE_TLS", "EMAIL_USE_TLS and EMAIL_USE_SSL cannot both be true")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Tracepoint <tracepoint@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- auth -------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "overview"
LOGOUT_REDIRECT_URL = "login"

# --- i18n, static -----------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
# Outside var/ in images (a volume on var/ must not hide the built files).
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "static"))).resolve()
try:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns about a missing directory
except OSError as _exc:
    raise SettingError("STATIC_ROOT", f"cannot create {str(STATIC_ROOT)!r}: {_exc.strerror}") from None
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
# Source maps are fetched by developer tools only: not worth compressing (they are most of the bytes
# of the API docs' bundles, and compressing them took most of a first `make run`'s collectstatic).
# Only the hashed copies are kept and compressed: every page links them through {% static %}.
WHITENOISE_SKIP_COMPRESS_EXTENSIONS = [
    *("jpg", "jpeg", "png", "gif", "webp", "zip", "gz", "tgz", "bz2", "tbz", "xz", "br", "swf", "flv", "woff"),
    *("woff2", "3gp", "3gpp", "asf", "avi", "m4v", "mov", "mp4", "mpeg", "mpg", "webm", "wmv", "map"),
]
WHITENOISE_KEEP_ONLY_HASHED_FILES = True
MEDIA_ROOT = VAR_DIR / "media"


# --- product limits (units in the names) ------------------------------------
def _networks(name: str, default: list[str]) -> list:
    try:
        return [ipaddress.ip_network(item, strict=False) for item in env_list(name, default)]
    except ValueError as exc:
        raise SettingError(name, f"not a list of networks such as 10.0.0.0/8 ({exc})") from None


TRACEPOINT = {
    "MAX_REQUEST_BYTES": env_int("MAX_REQUEST_BYTES", 1024 * 1024, minimum=1024),
    "RATE_LIMIT_ENABLED": env_bool("RATE_LIMIT_ENABLED", True),
    # Fixed-window limits per scope; a view picks its scope with `throttle_scope`.
    # /metrics: a bearer token, or a client address in these networks (tracepoint.scrape).
    "METRICS_TOKEN": env_secret("METRICS_TOKEN", "") or "",
    "METRICS_ALLOWED_NETWORKS": _networks("METRICS_ALLOWED_NETWORKS", ["127.0.0.1/32", "::1/128"]),
    "RATE_LIMITS": {
        "write": env_rate("RATE_LIMIT_WRITE", "100/min"),
        "auth": env_rate("RATE_LIMIT_AUTH", "10/min"),
        # Per integration (incidents.intake): a flood is refused with 429 and Retry-After.
        "intake": env_rate("RATE_LIMIT_INTAKE", "12000/min"),
        # Per client address: POSTs of one-click Acknowledge/Resolve links (incidents.action_links).
        "action_link": env_rate("RATE_LIMIT_ACTION_LINK", "30/min"),
    },
    # One incident per problem (incidents.correlation): a signal joins its service's open incident
    # opened or joined within this window (or still having an active signal) instead of opening another.
    "CORRELATION_WINDOW_MINUTES": env_int("CORRELATION_WINDOW_MINUTES", 30, minimum=0, maximum=7 * 24 * 60),
    # Where an incident opened by a signal moves once every signal has resolved: MITIGATED or RESOLVED.
    "CORRELATION_ALL_CLEAR_STATUS": env_choice("CORRELATION_ALL_CLEAR_STATUS", "MITIGATED", ("MITIGATED", "RESOLVED")),
    # Alert intake (incidents.intake): the largest webhook body, and how much of each is kept for audit.
    "INTAKE_MAX_BYTES": env_int("INTAKE_MAX_BYTES", 2 * 1024 * 1024, minimum=1024),
    "INTAKE_PAYLOAD_KEPT_BYTES": env_int("INTAKE_PAYLOAD_KEPT_BYTES", 64 * 1024, minimum=0, maximum=1024 * 1024),
    # Per username (tracepoint.accounts.services.authenticate_user): past this many failures, each
    # attempt waits 2, 4, 8 … s after the last failure, up to the max; failures are forgotten after
    # a quiet window or a successful login.
    "LOGIN_FAILURES_BEFORE_DELAY": env_int("LOGIN_FAILURES_BEFORE_DELAY", 5, minimum=1),
    "LOGIN_DELAY_MAX_SECONDS": env_int("LOGIN_DELAY_MAX_SECONDS", 300, minimum=1, maximum=3600),
    "LOGIN_FAILURE_WINDOW_SECONDS": env_int("LOGIN_FAILURE_WINDOW_SECONDS", 900, minimum=60, maximum=86400),
    # A browser that logged in keeps its "known device" cookie (exempt from the per-username delay) this long.
    "LOGIN_KNOWN_DEVICE_DAYS": env_int("LOGIN_KNOWN_DEVICE_DAYS", 90, minimum=1, maximum=3650),
    "EVENTS_RETENTION_DAYS": env_int("EVENTS_RETENTION_DAYS", 30, minimum=1),
    # Issue history rows (created, resolved, regressed …) older than this are deleted nightly.
    "ISSUE_ACTIVITY_RETENTION_DAYS": env_int("ISSUE_ACTIVITY_RETENTION_DAYS", 180, minimum=1),
    # Each live stream (Redis) keeps about this many newest messages for Last-Event-ID replay.
    "LIVE_STREAM_MAXLEN": env_int("LIVE_STREAM_MAXLEN", 1000, minimum=100, maximum=100_000),
    # Each heartbeat monitor keeps its newest pings, this many.
    "PING_LOG_KEPT": env_int("PING_LOG_KEPT", 100, minimum=10, maximum=10_000),
    # A POSTed ping keeps the first this many bytes of its body.
    "PING_BODY_MAX_BYTES": env_int("PING_BODY_MAX_BYTES", 10_000, minimum=0, maximum=1024 * 1024),
    # Monitors (monitors.serializers): the shortest check interval and the longest check timeout
    # a user may set; an HTTP check reads at most this many bytes of the response (monitors.probes).
    "MONITOR_MIN_INTERVAL_SECONDS": env_int("MONITOR_MIN_INTERVAL_SECONDS", 10, minimum=1, maximum=3600),
    "MONITOR_MAX_TIMEOUT_SECONDS": env_int("MONITOR_MAX_TIMEOUT_SECONDS", 60, minimum=1, maximum=300),
    "MONITOR_RESPONSE_MAX_BYTES": env_int("MONITOR_RESPONSE_MAX_BYTES", 1024 * 1024, minimum=1024),
    # A PEM file of extra CA certificates HTTPS and TLS monitors trust besides the system's (a private PKI).
    "MONITOR_EXTRA_CA_FILE": env_str("MONITOR_EXTRA_CA_FILE", ""),
    # Where domain monitors read IANA's RDAP bootstrap files (dns.json and its siblings): a mirror, if set.
    "RDAP_BOOTSTRAP_URL": env_str("RDAP_BOOTSTRAP_URL", "https://data.iana.org/rdap/"),
    # Checks from several locations (monitors.locations): a round a location has not answered is decided
    # with the answers there are this long after the check's timeout; a location (a probe worker on
    # checks.<name>) that has not answered for PROBE_SILENT_AFTER_SECONDS is a probe problem (Overview,
    # /ready), and gets no checks until it answers a probe ping again.
    "LOCATION_ROUND_GRACE_SECONDS": env_int("LOCATION_ROUND_GRACE_SECONDS", 15, minimum=1, maximum=600),
    "PROBE_SILENT_AFTER_SECONDS": env_int("PROBE_SILENT_AFTER_SECONDS", 90, minimum=5, maximum=86400),
    # A deploy resolves its service's issues that stay quiet this long after it.
    "DEPLOY_QUIET_MINUTES": env_int("DEPLOY_QUIET_MINUTES", 30, minimum=1),
    # An ERROR this soon after a DEPLOY/CONFIG_CHANGE of its service names it as the suspected cause.
    "DEPLOY_CORRELATION_MINUTES": env_int("DEPLOY_CORRELATION_MINUTES", 5, minimum=1, maximum=1440),
    # Native ingest: events per request, bytes of `metadata` per event.
    "INGEST_MAX_EVENTS": env_int("INGEST_MAX_EVENTS", 1000, minimum=1, maximum=100_000),
    "INGEST_MAX_BYTES": env_int("INGEST_MAX_BYTES", 5 * 1024 * 1024, minimum=1024),
    "EVENT_METADATA_MAX_BYTES": env_int("EVENT_METADATA_MAX_BYTES", 16 * 1024, minimum=256),
    # Sentry envelopes (events.sentry): the whole inflated envelope is held in memory while it is
    # parsed, so these stay below Sentry's own 100 MB inflated / 1 MB per event.
    "SENTRY_MAX_DECOMPRESSED_BYTES": env_int("SENTRY_MAX_DECOMPRESSED_BYTES", 20 * 1024 * 1024, minimum=64 * 1024),
    "SENTRY_MAX_EVENT_BYTES": env_int("SENTRY_MAX_EVENT_BYTES", 1024 * 1024, minimum=1024),
    # A service timeline (events.timeline) lists at most this many events per request, then pages.
    "TIMELINE_MAX_EVENTS": env_int("TIMELINE_MAX_EVENTS", 2000, minimum=10, maximum=100_000),
    # Overrides of events.priority.DEFAULT_RULES (keywords, thresholds, points), merged key by key.
    "ISSUE_PRIORITY": {},
    # Each web process remembers a valid ingest key this long (0: ask the database
    # every time); a key revoked elsewhere stops working within this time.
    "INGEST_KEY_CACHE_SECONDS": env_int("INGEST_KEY_CACHE_SECONDS", 10, minimum=0, maximum=300),
    # Ingest quota of a project without its own rate (events.quota): events per minute. The spike
    # guard also caps each 10-second window of the clock at this percent of the minute's rate.
    "PROJECT_EVENTS_PER_MINUTE": env_int("PROJECT_EVENTS_PER_MINUTE", 60_000, minimum=1, maximum=1_000_000),
    "PROJECT_EVENTS_BURST_PERCENT": env_int("PROJECT_EVENTS_BURST_PERCENT", 50, minimum=17, maximum=100),
    "PROJECT_EVENTS_BURST_SECONDS": 10,
    "MONITOR_RETENTION_DAYS": env_int("MONITOR_RETENTION_DAYS", 90, minimum=1),
    # Connections to user-set URLs (monitors, notification and subscriber webhooks: tracepoint.outbound)
    # may not reach loopback, private, link-local or metadata addresses unless this is true, or the
    # address is in OUTBOUND_ALLOWED_NETWORKS. MONITORS_ALLOW_PRIVATE_TARGETS is its older name.
    "OUTBOUND_ALLOW_PRIVATE_TARGETS": env_bool(
        "ALLOW_PRIVATE_TARGETS", env_bool("MONITORS_ALLOW_PRIVATE_TARGETS", False)
    ),
    "OUTBOUND_ALLOWED_NETWORKS": _networks("OUTBOUND_ALLOWED_NETWORKS", []),
    "IDEMPOTENCY_KEY_TTL_HOURS": env_int("IDEMPOTENCY_KEY_TTL_HOURS", 24, minimum=1),
    "INCIDENT_CACHE_SECONDS": env_int("INCIDENT_CACHE_SECONDS", 300, minimum=0),
    # Public status pages: browsers, proxies and our cache keep a rendered page this long.
    "STATUSPAGE_CACHE_SECONDS": env_int("STATUSPAGE_CACHE_SECONDS", 60, minimum=1, maximum=3600),
    # A status page takes at most this many subscribers (email and webhook together).
    "STATUSPAGE_MAX_SUBSCRIBERS": env_int("STATUSPAGE_MAX_SUBSCRIBERS", 100_000, minimum=1),
    # Public address of this installation, for links in emails and webhooks.
    "BASE_URL": env_str("TRACEPOINT_BASE_URL", "http://127.0.0.1:8000"),
    # Where browsers open live streams (served by the ASGI "stream" service): its origin,
    # e.g. http://127.0.0.1:8001; "same-origin" when a proxy routes them there; empty:
    # no live stream, pages poll.
    "STREAM_BASE_URL": env_str("TRACEPOINT_STREAM_URL", "").rstrip("/"),
    # Where SDKs send events, the address in every DSN: the ASGI "ingest" service's origin as SDKs
    # reach it, e.g. https://ingest.example.com; empty: BASE_URL (the web answers ingest too).
    "INGEST_BASE_URL": env_url("TRACEPOINT_INGEST_URL", "", schemes=("http", "https")).rstrip("/"),
    # Notification deliveries (email and webhooks): attempt n failing waits
    # min(BASE * 2**(n-1), MAX) seconds; after MAX_ATTEMPTS the delivery fails.
    "WEBHOOK_MAX_ATTEMPTS": env_int("WEBHOOK_MAX_ATTEMPTS", 6, minimum=1, maximum=50),
    "WEBHOOK_RETRY_BASE_SECONDS": env_int("WEBHOOK_RETRY_BASE_SECONDS", 30, minimum=1),
    "WEBHOOK_RETRY_MAX_SECONDS": env_int("WEBHOOK_RETRY_MAX_SECONDS", 3600, minimum=1),
    "WEBHOOK_TIMEOUT_SECONDS": env_int("WEBHOOK_TIMEOUT_SECONDS", 10, minimum=1, maximum=120),
    # One-click Acknowledge/Resolve links in incident messages work this long after the message was
    # queued (each link once; tracepoint.notifications.action_links).
    "ACTION_LINK_MAX_AGE_HOURS": env_int("ACTION_LINK_MAX_AGE_HOURS", 24, minimum=1, maximum=24 * 30),
    # Finished (succeeded or failed) deliveries are deleted this long after their last attempt.
    "DELIVERY_RETENTION_DAYS": env_int("DELIVERY_RETENTION_DAYS", 30, minimum=1),
    # Alert intake: raw payloads (the audit copy) and resolved alerts are deleted after these many days.
    "INTAKE_PAYLOAD_RETENTION_DAYS": env_int("INTAKE_PAYLOAD_RETENTION_DAYS", 30, minimum=1),
    "ALERT_RETENTION_DAYS": env_int("ALERT_RETENTION_DAYS", 90, minimum=1),
    "READY_CHECK_TIMEOUT_SECONDS": 3,
    # The beat lock (tracepoint/beat.py) lapses this long after its holder dies; holders renew it,
    # and standbys poll for it, every BEAT_LOCK_RENEW_SECONDS.
    "BEAT_LOCK_TTL_SECONDS": env_int("BEAT_LOCK_TTL_SECONDS", 30, minimum=3, maximum=300),
    "BEAT_LOCK_RENEW_SECONDS": env_int("BEAT_LOCK_RENEW_SECONDS", 5, minimum=1, maximum=60),
    "WORKER_HEARTBEAT_MAX_AGE_SECONDS": env_int(
        "WORKER_HEARTBEAT_MAX_AGE_SECONDS", max(90, 3 * HEARTBEAT_INTERVAL_SECONDS), minimum=10
    ),
    # Lists count exactly up to this many rows, then use the planner's estimate (PostgreSQL).
    "EXACT_COUNT_LIMIT": env_int("EXACT_COUNT_LIMIT", 1000, minimum=100),
    # Pages this deep fetch their ids first, then the rows (see FastCountPaginator).
    "DEFERRED_JOIN_OFFSET": 1000,
    # Searches rank by relevance up to this many matches; broader ones list newest first.
    "SEARCH_RANK_LIMIT": env_int("SEARCH_RANK_LIMIT", 1000, minimum=10),
}
DATA_UPLOAD_MAX_MEMORY_SIZE = TRACEPOINT["MAX_REQUEST_BYTES"]
if TRACEPOINT["BEAT_LOCK_RENEW_SECONDS"] * 2 > TRACEPOINT["BEAT_LOCK_TTL_SECONDS"]:
    raise SettingError("BEAT_LOCK_RENEW_SECONDS", "must be at most half of BEAT_LOCK_TTL_SECONDS")

# --- DRF, OpenAPI -----------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first so that anonymous API calls get 401 + WWW-Authenticate.
        "tracepoint.accounts.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["tracepoint.accounts.permissions.IsResponderOrReadOnly"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["tracepoint.api.parsers.SafeJSONParser"],
    "DEFAULT_PAGINATION_CLASS": "tracepoint.api.pagination.StandardPagination",
    "PAGE_SIZE": 10,
    "DEFAULT_FILTER_BACKENDS": [
        "tracepoint.api.filters.FilterBackend",  # django-filter, with NUL and UTC-offset checks
        "tracepoint.api.filters.StrictOrderingFilter",
    ],
    "DEFAULT_THROTTLE_CLASSES": ["tracepoint.api.throttling.WriteRateThrottle"],
    "EXCEPTION_HANDLER": "tracepoint.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "NUM_PROXIES": NUM_PROXIES,
    "DATETIME_FORMAT": "iso-8601",
    "COERCE_DECIMAL_TO_STRING": False,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Tracepoint API",
    "DESCRIPTION": "Incidents, error events, monitors and status pages in one API.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "SeverityEnum": "incidents.models.Severity",
        "IncidentStatusEnum": "incidents.models.Status.values",
        "IssueSeverityEnum": "events.priority.IssueSeverity.values",
        "ComponentStatusEnum": "statuspages.models.ComponentStatus",
        "MonitorStatusEnum": "monitors.models.MonitorStatus",
        "PublicStatusEnum": "statuspages.models.PublicStatus",
        "MaintenanceStatusEnum": "statuspages.models.MaintenanceStatus",
    },
}

# --- logging: one JSON object per line (or readable lines for a terminal) ----
LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
if LOG_LEVEL not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
    raise SettingError("LOG_LEVEL", f"must be DEBUG, INFO, WARNING, ERROR or CRITICAL, got {LOG_LEVEL!r}")
# json: one object per line, for log collectors (the default); console: "time process level message"
# for a person watching a terminal (``make run`` sets it).
LOG_FORMAT = env_str("LOG_FORMAT", "json").lower()
if LOG_FORMAT not in tracepoint_logging.FORMATS:
    raise SettingError("LOG_FORMAT", f"must be json or console, got {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "tracepoint.logging.RequestIdFilter"}},
    "formatters": {"line": tracepoint_logging.formatter_config(LOG_FORMAT)},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "line",
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Our request log already records every response; Django's duplicate
        # 4xx/5xx warnings would only repeat it (exceptions are still logged).
        # Replace Django's default plain-text handlers so every line has the chosen format.
        "django": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
        "django.request": {"handlers": ["console"], "level": "ERROR", "propagate": False},
        "django.server": {"handlers": ["console"], "level": "WARNING", "propagate": False},
    },
}
# Python warnings (deprecations, Celery's root warning) become JSON log lines too.
logging.captureWarnings(True)
