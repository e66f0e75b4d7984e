"""Incidents: one record per production problem (severity, status OPEN → ACKNOWLEDGED → MITIGATED →
RESOLVED, owner, summary), its timeline (every change and comment), idempotent creation, the
incidents pages and API, their live stream, and incident notifications. Sends ``incident_changed`` and
``incident_resolved`` (incidents/signals.py) for other apps to follow."""
