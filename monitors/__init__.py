"""Uptime monitors: HTTP, TCP and heartbeat checks, the scheduler and probes that run them, heartbeat
pings (buffered through Redis), status periods and latency rollups (uptime maths), maintenance, and the
monitors pages and API. Sends ``monitor_status_changed``, ``monitor_opened_incident`` and
``monitor_deleting`` (monitors/signals.py); opens incidents through the incidents services."""
