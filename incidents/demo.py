"""Demo incidents for `manage.py seed_demo`: ~200 across services, severities and statuses."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model

from incidents import services
from incidents.models import Incident, Severity, Status
from tracepoint.accounts.roles import RESPONDER, VIEWER, set_role

SERVICES = ["api-gateway", "checkout", "payments", "search", "auth", "notifications", "web", "worker", "db"]
PROBLEMS = [
    ("Elevated 5xx rate on {service}", "Error rate above 5% for 10 minutes after the last deploy."),
    ("{service} latency p99 above 2 s", "Slow queries on the primary database; connection pool saturated."),
    ("{service} pods crash-looping", "OOMKilled after the memory limit was lowered."),
    ("TLS certificate for {service} expiring", "Certificate renewal job failed silently."),
    ("Timeouts calling {service} from checkout", "Upstream dependency degraded in one zone."),
    ("Queue backlog in {service}", "Consumers stalled on a poison message."),
    ("Partial outage of {service} in eu-west", "Load balancer health checks flapping."),
    ("Data sync lag for {service}", "Replication delay above 15 minutes."),
]
COMMENTS = [
    "Rolled back to the previous release.",
    "Paging the on-call for the database team.",
    "Error rate back to baseline; keeping an eye on it.",
    "Customer support reports fewer tickets now.",
    "Root cause: a missing index after the migration.",
    "Added an alert so we see this earlier next time.",
]
TEAM = [("olivia", RESPONDER), ("noah", RESPONDER), ("mia", RESPONDER), ("liam", VIEWER)]


def is_empty() -> bool:
    return not Incident.objects.exists()


def _team() -> list:
    User = get_user_model()
    people = []
    for username, role in TEAM:
        user, created = User.objects.get_or_create(username=username, defaults={"email": f"{username}@example.com"})
        if created:
            user.set_unusable_password()  # demo people cannot log in until an admin sets a password
            user.save()
            set_role(user, role)
        people.append(user)
    return [p for p, (_, role) in zip(people, TEAM, strict=True) if role == RESPONDER]


def seed(*, now: datetime, stdout, count: int = 200, rng: random.Random | None = None) -> None:
    rng = rng or random.Random(42)  # noqa: S311 - demo data, the same every time
    responders = _team()
    severities = [Severity.SEV1] * 1 + [Severity.SEV2] * 3 + [Severity.SEV3] * 4 + [Severity.SEV4] * 2
    for _ in range(count):
        service = rng.choice(SERVICES)
        title, summary = rng.choice(PROBLEMS)
        # A fifth of them from the last three days, so some are still being worked on.
        recent = rng.random() < 0.2
        created = now - timedelta(minutes=rng.randint(10, (3 if recent else 90) * 24 * 60))
        by = rng.choice(responders)
        incident = services.create_incident(
            title=title.format(service=service),
            service=service,
            severity=rng.choice(severities),
            summary=summary,
            owner=rng.choice([None, *responders]),
            by=by,
            now=created,
        )
        # Older incidents are more likely to be done with.
        age_days = (now - created).days
        target = rng.choices(
            [Status.OPEN, Status.ACKNOWLEDGED, Status.MITIGATED, Status.RESOLVED],
            weights=[3, 2, 2, 3] if age_days < 3 else [0, 0, 1, 20],
        )[0]
        moment = created
        path = {
            Status.OPEN: [],
            Status.ACKNOWLEDGED: [Status.ACKNOWLEDGED],
            Status.MITIGATED: [Status.ACKNOWLEDGED, Status.MITIGATED],
            Status.RESOLVED: [Status.ACKNOWLEDGED, Status.MITIGATED, Status.RESOLVED],
        }[target]
        for step in path:
            moment = min(moment + timedelta(minutes=rng.randint(2, 240)), now)
            services.transition_incident(incident.pk, to=step, by=rng.choice(responders), now=moment)
            if rng.random() < 0.5:
                services.add_comment(incident.pk, body=rng.choice(COMMENTS), by=rng.choice(responders), now=moment)
    stdout.write(f"incidents: {count} demo incidents across {len(SERVICES)} services")
