"""Intake: the integrations that receive alerts from outside tools (Alertmanager, Grafana,
Events API v2, generic JSON), their hashed tokens, and the alerts, alert groups and raw
payloads those tools send. It records what the senders say, idempotently; correlating
firing groups into incidents builds on what its services return.
"""
