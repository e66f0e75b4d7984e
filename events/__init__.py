"""Error events: projects and their ingest keys, ingest (the Sentry protocol and the native API) with
per-project quotas, digestion into issues (grouping, counters, regressions, impact and priority),
deploy correlation, alert rules, the daily summary email, retention, and the issues pages, API and live stream."""
