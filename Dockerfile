# syntax=docker/dockerfile:1
#
# Tracepoint production image: one image for web (gunicorn), worker and beat
# (Celery) and the one-shot migrate job; docker-compose.yml picks the command.
#
#   docker build -t tracepoint .
#   docker run --rm -e SECRET_KEY=... -e DATABASE_URL=... -e REDIS_URL=... -p 8000:8000 tracepoint

ARG PYTHON_IMAGE=python:3.11-slim

# --- build: install the pinned runtime requirements into a virtualenv --------
FROM ${PYTHON_IMAGE} AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN python -m venv /opt/venv
COPY requirements.txt /tmp/requirements.txt
RUN /opt/venv/bin/pip install --no-cache-dir -r /tmp/requirements.txt

# --- runtime -----------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

# DEBUG is off by default in the image: without SECRET_KEY it refuses to start
# rather than running in development mode. TRACEPOINT_VAR_DIR holds runtime
# files (in the embedded mode only, SQLite and the filesystem broker); the
# collected static files live apart in STATIC_ROOT so a volume on var/ cannot
# hide them.
ENV PATH="/opt/venv/bin:${PATH}" \
    VIRTUAL_ENV=/opt/venv \
    PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=tracepoint.settings \
    DEBUG=false \
    TRACEPOINT_VAR_DIR=/app/var \
    STATIC_ROOT=/app/static \
    WEB_CONCURRENCY=3

RUN groupadd --system --gid 10001 tracepoint \
 && useradd --system --uid 10001 --gid tracepoint --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin tracepoint

WORKDIR /app
COPY --from=build /opt/venv /opt/venv
# The code stays owned by root: the app user can read it but not change it.
COPY . /app
RUN python -m compileall -q /app \
 && mkdir -p /app/var /app/static \
 && chown tracepoint:tracepoint /app/var /app/static

USER tracepoint:tracepoint

# Static files are collected (and hashed/compressed for whitenoise) at build
# time. The key below only lets the settings load for this one command; it is
# not a secret and is not kept in the image's environment. Whatever else the
# settings create under var/ while loading is removed again.
RUN DEBUG=false SECRET_KEY=collectstatic-at-build-time-only-not-a-secret \
        python manage.py collectstatic --no-input \
 && find /app/var -mindepth 1 -maxdepth 1 -exec rm -rf {} +

EXPOSE 8000

# Liveness only (no database/cache/broker I/O). X-Forwarded-Proto keeps the
# probe from being redirected to https when SECURE_SSL is on; 127.0.0.1 must be
# in ALLOWED_HOSTS (docker-compose.yml adds it). Worker and beat override this.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request as u; u.urlopen(u.Request('http://127.0.0.1:8000/health', headers={'X-Forwarded-Proto': 'https'}), timeout=4)"]

# tracepoint/gunicorn_conf.py: WEB_CONCURRENCY workers, preload (a bad setting
# stops the container instead of looping), JSON logs, no control socket.
CMD ["gunicorn", "-c", "python:tracepoint.gunicorn_conf", "tracepoint.wsgi:application", "--bind", "0.0.0.0:8000", "--worker-tmp-dir", "/dev/shm"]
