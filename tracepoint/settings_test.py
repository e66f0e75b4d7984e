"""Settings for the test suite: the real settings, made fast and isolated."""

import os
import uuid
from pathlib import Path

os.environ.setdefault("TRACEPOINT_VAR_DIR", str(Path(__file__).resolve().parent.parent / "var" / "test"))

from tracepoint.settings import *  # noqa: F403
from tracepoint.settings import CACHES, REDIS_URL

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# A prefix of its own per run, so parallel runs and a dev server sharing the
# same Redis never see each other's keys.
CACHE_KEY_PREFIX = f"tptest-{uuid.uuid4().hex[:8]}"
if REDIS_URL:
    CACHES["default"]["KEY_PREFIX"] = CACHE_KEY_PREFIX
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "KEY_PREFIX": CACHE_KEY_PREFIX}}
