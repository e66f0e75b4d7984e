"""On-call: teams and the services they own, schedules built from layered rotations and
overrides, and the engine (``schedule.py``) that says who is on call at any moment. Escalation
policies and pages build on ``schedule.on_call_at`` and ``services.team_for_service``.
"""
