"""Severity levels shared by incidents and notifications (SEV1 is the most severe)."""

from django.db import models


class Severity(models.TextChoices):
    SEV1 = "SEV1", "SEV1 — critical"
    SEV2 = "SEV2", "SEV2 — major"
    SEV3 = "SEV3", "SEV3 — minor"
    SEV4 = "SEV4", "SEV4 — low"
