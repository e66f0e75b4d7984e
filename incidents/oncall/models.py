"""Teams, schedules, their layers and overrides. Who is on call when is computed by ``schedule.py``
from these rows; nothing here stores a computed shift."""

from __future__ import annotations

import secrets
from datetime import time
from functools import lru_cache
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, available_timezones

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, URLValidator, validate_email
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from incidents.models import service_validator
from incidents.oncall.timemath import RestrictionError, Window, normalize_restrictions, parse_restrictions
from tracepoint import outbound
from tracepoint.notifications import apprise_channel

MAX_SHIFT_COUNT = 1000


def generate_feed_token() -> str:
    """The secret in a calendar feed's address (calendar apps cannot send credentials)."""
    return secrets.token_urlsafe(24)


@lru_cache(maxsize=1)
def _time_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def validate_time_zone(value: str) -> None:
    if value not in _time_zones():
        raise ValidationError(f"{value!r} is not an IANA time zone (e.g. 'Europe/Paris' or 'America/New_York').")


class Team(models.Model):
    """People who share on-call duty, and the services they answer for. A service belongs to at most
    one team (checked in ``clean()``, which the services and the admin run)."""

    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=100, unique=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="oncall_teams")
    services = models.JSONField(
        default=list,
        blank=True,
        help_text='Service names this team owns, as incidents, monitors and events name them: ["api", "checkout"].',
    )
    default_policy = models.ForeignKey(
        "EscalationPolicy",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The escalation policy of the team's services that no policy names.",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        super().clean()
        if self.default_policy_id and self.pk and self.default_policy.team_id != self.pk:
            raise ValidationError({"default_policy": "The default policy must be one of the team's own policies."})
        self.services = self._clean_services(self.services)
        taken = {}
        for other in Team.objects.exclude(pk=self.pk).only("name", "services"):
            for service in other.services or ():
                taken[service] = other.name
        clashes = [f"'{s}' belongs to team {taken[s]}" for s in self.services if s in taken]
        if clashes:
            raise ValidationError(
                {"services": f"A service belongs to at most one team: {'; '.join(clashes)}. Remove it there first."}
            )

    @staticmethod
    def _clean_services(value) -> list[str]:
        if value in (None, ""):
            return []
        if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
            raise ValidationError({"services": 'A list of service names, e.g. ["api", "checkout"].'})
        cleaned: list[str] = []
        for service in (s.strip() for s in value):
            try:
                service_validator(service)
            except ValidationError as exc:
                raise ValidationError({"services": f"{service!r}: {exc.messages[0]}"}) from None
            if service not in cleaned:
                cleaned.append(service)
        return cleaned


class Schedule(models.Model):
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="schedules")
    name = models.CharField(max_length=100)
    time_zone = models.CharField(
        max_length=64,
        default="UTC",
        validators=[validate_time_zone],
        help_text="IANA time zone the rotations and restrictions are written in, e.g. Europe/Paris.",
    )
    description = models.TextField(blank=True)
    ical_token = models.CharField(
        max_length=64, unique=True, default=generate_feed_token, editable=False, help_text="Secret of the iCal feed."
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["team__name", "name"]
        constraints = [models.UniqueConstraint(fields=["team", "name"], name="oncall_schedule_name_unique_in_team")]

    def __str__(self) -> str:
        return self.name

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)


class ShiftUnit(models.TextChoices):
    HOURS = "hours", "Hours"
    DAYS = "days", "Days"
    WEEKS = "weeks", "Weeks"


class Layer(models.Model):
    """One layer of a schedule and its rotation.

    A layer has exactly one rotation, so the rotation's fields live here rather than in a
    one-to-one ``Rotation`` table: that table would add a join to every lookup and a second row to
    keep in step, and buy nothing (PagerDuty's schedule layers carry their rotation the same way).
    Layers with a higher ``order`` override lower ones wherever they have someone on call.
    """

    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="layers", db_index=False)
    name = models.CharField(max_length=100)
    order = models.PositiveSmallIntegerField(help_text="Higher layers override lower ones where they have someone.")
    shift_count = models.PositiveIntegerField(
        default=1,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_SHIFT_COUNT)],
        help_text="Shift length: this many units.",
    )
    shift_unit = models.CharField(max_length=5, choices=ShiftUnit.choices, default=ShiftUnit.WEEKS)
    handoff_time = models.TimeField(default=time(9, 0), help_text="Local time of day the shift changes hands.")
    start_date = models.DateField(
        help_text="Local date of the first handoff: the first shift starts on this day at the handoff time."
    )
    restrictions = models.JSONField(
        default=list,
        blank=True,
        help_text='Optional windows the layer is on call in, local time, e.g. [{"days": ["mon", "tue", "wed", '
        '"thu", "fri"], "start": "09:00", "end": "18:00"}]. Leave "days" out for every day; an end before the '
        "start crosses midnight (22:00-06:00).",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["schedule_id", "order"]
        constraints = [
            models.UniqueConstraint(fields=["schedule", "order"], name="oncall_layer_order_unique"),
            models.CheckConstraint(condition=Q(shift_count__gte=1), name="oncall_layer_shift_count_positive"),
            models.CheckConstraint(condition=Q(shift_unit__in=ShiftUnit.values), name="oncall_layer_shift_unit_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.name} (layer {self.order})"

    def clean(self) -> None:
        super().clean()
        try:
            self.restrictions = normalize_restrictions(self.restrictions)
        except RestrictionError as exc:
            raise ValidationError({"restrictions": str(exc)}) from None
        if self.handoff_time is not None and (self.handoff_time.second or self.handoff_time.microsecond):
            self.handoff_time = self.handoff_time.replace(second=0, microsecond=0)

    def windows(self) -> tuple[Window, ...]:
        return parse_restrictions(self.restrictions)


class LayerParticipant(models.Model):
    """A place in a layer's rotation order. The same person may hold several places (A, B, A, C)."""

    layer = models.ForeignKey(Layer, on_delete=models.CASCADE, related_name="participants", db_index=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="oncall_places")
    position = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["layer_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["layer", "position"], name="oncall_participant_position_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user} #{self.position + 1}"


class Override(models.Model):
    """One person covers a schedule from ``start`` to ``end``, on top of every layer. Where
    overrides overlap, the one created last wins."""

    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="overrides", db_index=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="oncall_overrides")
    start = models.DateTimeField()
    end = models.DateTimeField()
    note = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["schedule_id", "start", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(end__gt=F("start")), name="oncall_override_ends_after_start"),
        ]
        indexes = [models.Index(fields=["schedule", "end"], name="oncall_override_sched_end_idx")]

    def __str__(self) -> str:
        return f"{self.user} on {self.schedule}: {self.start:%Y-%m-%d %H:%M} - {self.end:%Y-%m-%d %H:%M} UTC"

    def clean(self) -> None:
        super().clean()
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ValidationError({"end": "The override must end after it starts."})


# --- contact methods and notification rules ---------------------------------------------------

MAX_TARGET_LENGTH = 500  # a delivery's recipient column holds 500 characters
MAX_RULE_DELAY_MINUTES = 24 * 60


class ContactKind(models.TextChoices):
    EMAIL = "email", "Email"
    APPRISE = "apprise", "Push, chat or SMS (apprise)"
    WEBHOOK = "webhook", "Webhook"


def redact_webhook_url(url: str) -> str:
    """What may be shown of a webhook URL: its scheme and host (the path or query often is the secret)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "…"
    if not host:
        return "…"
    rest = "/…" if (parts.path not in ("", "/") or parts.query) else ""
    return f"{parts.scheme}://{host}{port}{rest}"


class ContactMethod(models.Model):
    """One way to reach one person: an email address, an apprise URL (push, chat DM, SMS) or a webhook.

    ``target`` may be a secret (apprise tokens, a webhook URL with a token in it): it is shown back
    only as ``target_redacted``, computed when the row is saved.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="contact_methods")
    kind = models.CharField(max_length=8, choices=ContactKind.choices)
    label = models.CharField(max_length=100, help_text="Your name for it, e.g. “Phone (ntfy)” or “Work email”.")
    target = models.CharField(max_length=MAX_TARGET_LENGTH, help_text="An email address, apprise URL or webhook URL.")
    target_redacted = models.CharField(max_length=1000, blank=True, editable=False)
    service = models.CharField(max_length=100, blank=True, editable=False, help_text="e.g. Email, ntfy, Webhook.")
    enabled = models.BooleanField(default=True, help_text="Disabled methods are skipped when you are paged.")
    verified_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="When a test page last reached it; cleared when it changes."
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["user_id", "created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "label"],
                name="oncall_contact_label_unique_per_user",
                violation_error_message="You already have a contact method with this label.",
            ),
            models.UniqueConstraint(
                fields=["user", "kind", "target"],
                name="oncall_contact_target_unique_per_user",
                violation_error_message="You already have a contact method with this target.",
            ),
            models.CheckConstraint(condition=Q(kind__in=ContactKind.values), name="oncall_contact_kind_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.label} ({self.get_kind_display()}: {self.target_redacted or '…'})"

    def save(self, *args, **kwargs) -> None:
        self.target_redacted, self.service = self.describe_target()
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = {*kwargs["update_fields"], "target_redacted", "service"}
        super().save(*args, **kwargs)

    @property
    def title(self) -> str:
        """The label, with the service when the label does not name it: “Phone (ntfy)”, “Work (Email)”."""
        service = self.service or self.get_kind_display()
        return self.label if service.lower() in self.label.lower() else f"{self.label} ({service})"

    def describe_target(self) -> tuple[str, str]:
        """``(what may be shown of the target, the service's name)``."""
        if self.kind == ContactKind.EMAIL:
            return self.target, "Email"
        if self.kind == ContactKind.APPRISE:
            return apprise_channel.describe(self.target) if self.target else ("", "apprise")
        return redact_webhook_url(self.target), "Webhook"

    def clean(self) -> None:
        super().clean()
        self.label = (self.label or "").strip()
        self.target = (self.target or "").strip()
        if not self.target:
            raise ValidationError({"target": _MISSING_TARGET.get(self.kind, "A target is needed.")})
        if self.kind == ContactKind.EMAIL:
            try:
                validate_email(self.target)
            except ValidationError:
                raise ValidationError({"target": f"{self.target!r} is not a valid email address."}) from None
        elif self.kind == ContactKind.WEBHOOK:
            try:
                URLValidator(schemes=["http", "https"])(self.target)
            except ValidationError:
                raise ValidationError(
                    {"target": "A webhook is an http(s) URL, e.g. https://hooks.example.com/page-me."}
                ) from None
            try:
                outbound.validate_url(self.target)
            except outbound.TargetRefused as exc:
                raise ValidationError(
                    {"target": f"{exc}; webhooks may not reach it (ALLOW_PRIVATE_TARGETS)."}
                ) from None
        elif self.kind == ContactKind.APPRISE:
            try:
                apprise_channel.check_target(self.target)
            except apprise_channel.InvalidAppriseURL as exc:
                raise ValidationError({"target": str(exc)}) from None
            except outbound.TargetRefused as exc:
                raise ValidationError(
                    {"target": f"{exc}; contact methods may not reach it (ALLOW_PRIVATE_TARGETS)."}
                ) from None


_MISSING_TARGET = {
    ContactKind.EMAIL: "An email method needs an address.",
    ContactKind.APPRISE: "An apprise method needs its service's URL, e.g. ntfys://ntfy.sh/your-topic.",
    ContactKind.WEBHOOK: "A webhook method needs a URL.",
}


class NotificationRule(models.Model):
    """When a page uses a contact method: ``delay_minutes`` after the page starts, if nobody has
    acknowledged by then ("immediately: push; after 5 minutes: email")."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_rules")
    contact_method = models.ForeignKey(ContactMethod, on_delete=models.CASCADE, related_name="rules")
    delay_minutes = models.PositiveSmallIntegerField(
        default=0,
        validators=[MaxValueValidator(MAX_RULE_DELAY_MINUTES)],
        help_text="Minutes after the page starts, without acknowledgement; 0 is immediately.",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["user_id", "delay_minutes", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["contact_method", "delay_minutes"],
                name="oncall_rule_unique_per_delay",
                violation_error_message="This contact method already has a rule with this delay.",
            ),
            models.CheckConstraint(
                condition=Q(delay_minutes__lte=MAX_RULE_DELAY_MINUTES), name="oncall_rule_delay_at_most_a_day"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.delay_text}: {self.contact_method.label}"

    @property
    def delay_text(self) -> str:
        return describe_delay(self.delay_minutes)

    def clean(self) -> None:
        super().clean()
        if self.contact_method_id and self.user_id and self.contact_method.user_id != self.user_id:
            raise ValidationError({"contact_method": "A rule can only use its own user's contact methods."})


def describe_delay(minutes: int) -> str:
    if not minutes:
        return "Immediately"
    hours, rest = divmod(minutes, 60)
    parts = [f"{hours} hour{'s' if hours != 1 else ''}"] if hours else []
    if rest:
        parts.append(f"{rest} minute{'s' if rest != 1 else ''}")
    return "After " + " ".join(parts)


class UserFeed(models.Model):
    """The secret address of one user's iCal feed of shifts (created on first use, rotatable)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="oncall_feed")
    token = models.CharField(max_length=64, unique=True, default=generate_feed_token, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    def __str__(self) -> str:
        return f"iCal feed of {self.user}"


class ShiftNotice(models.Model):
    """A shift notice that was sent ("your shift starts in 1 hour", "you are on call now"): the
    unique row makes each one go out once, whichever beat tick or worker gets there first."""

    class Kind(models.TextChoices):
        UPCOMING = "upcoming", "Starts in an hour"
        STARTED = "started", "Started"

    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    shift_start = models.DateTimeField()
    kind = models.CharField(max_length=8, choices=Kind.choices)
    sent_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["schedule", "user", "shift_start", "kind"], name="oncall_shift_notice_once")
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.user} on {self.schedule_id} at {self.shift_start:%Y-%m-%d %H:%M}"


# --- escalation policies, escalations and pages ------------------------------------------------

MAX_POLICY_REPEAT = 9
MAX_POLICY_STEPS = 20
MAX_STEP_DELAY_MINUTES = 24 * 60


class EscalationPolicy(models.Model):
    """Who is paged, in which order, for the incidents of some services.

    ``services`` maps services to this policy; a service of the team that no policy names uses the
    team's ``default_policy``. A service maps to at most one policy (``clean()``).
    """

    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="policies")
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    repeat = models.PositiveSmallIntegerField(
        default=0,
        validators=[MaxValueValidator(MAX_POLICY_REPEAT)],
        help_text="After the last step, start again from the first this many more times (0: run the steps once).",
    )
    services = models.JSONField(
        default=list,
        blank=True,
        help_text='Services whose incidents this policy pages for, e.g. ["checkout"]. Other services '
        "of the team use its default policy.",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["team__name", "name"]
        verbose_name_plural = "escalation policies"
        constraints = [
            models.UniqueConstraint(fields=["team", "name"], name="oncall_policy_name_unique_in_team"),
            models.CheckConstraint(condition=Q(repeat__lte=MAX_POLICY_REPEAT), name="oncall_policy_repeat_max"),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        super().clean()
        self.services = Team._clean_services(self.services)
        if not self.services:
            return
        taken = {}
        for other in EscalationPolicy.objects.exclude(pk=self.pk).only("name", "services"):
            for service in other.services or ():
                taken[service] = other.name
        clashes = [f"'{s}' uses policy {taken[s]}" for s in self.services if s in taken]
        if clashes:
            raise ValidationError(
                {"services": f"A service maps to at most one policy: {'; '.join(clashes)}. Remove it there first."}
            )
        if self.team_id:
            owners = {}
            for team in Team.objects.exclude(pk=self.team_id).only("name", "services"):
                for service in team.services or ():
                    owners[service] = team.name
            foreign = [f"'{s}' belongs to team {owners[s]}" for s in self.services if s in owners]
            if foreign:
                raise ValidationError({"services": f"{'; '.join(foreign)}: its own team's policies page for it."})


class EscalationStep(models.Model):
    """One step of a policy: page these users, whoever is on call on these schedules, notify these
    channels; then wait ``delay_minutes`` for an acknowledgement before the next step."""

    policy = models.ForeignKey(EscalationPolicy, on_delete=models.CASCADE, related_name="steps", db_index=False)
    position = models.PositiveSmallIntegerField()
    delay_minutes = models.PositiveSmallIntegerField(
        default=15,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_STEP_DELAY_MINUTES)],
        help_text="Minutes to wait for an acknowledgement before the next step.",
    )
    users = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    schedules = models.ManyToManyField(Schedule, blank=True, related_name="escalation_steps")
    channels = models.ManyToManyField("notifications.NotificationChannel", blank=True, related_name="+")

    class Meta:
        ordering = ["policy_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["policy", "position"], name="oncall_step_position_unique"),
            models.CheckConstraint(
                condition=Q(delay_minutes__gte=1) & Q(delay_minutes__lte=MAX_STEP_DELAY_MINUTES),
                name="oncall_step_delay_range",
            ),
        ]

    def __str__(self) -> str:
        return f"Step {self.position + 1} of {self.policy_id}"


class EscalationQuerySet(models.QuerySet):
    def active(self):
        return self.filter(state=Escalation.State.ACTIVE)

    def due(self, now):
        return self.filter(state=Escalation.State.ACTIVE, next_step_at__lte=now)


class Escalation(models.Model):
    """One run of a policy for one incident: the steps as they were when it started (``steps``, a
    snapshot: editing a policy does not change a run under way) and where it is in them."""

    class State(models.TextChoices):
        ACTIVE = "active", "Escalating"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        RESOLVED = "resolved", "Resolved"
        EXHAUSTED = "exhausted", "Finished without acknowledgement"
        CANCELLED = "cancelled", "Replaced"

    incident = models.ForeignKey("incidents.Incident", on_delete=models.CASCADE, related_name="escalations")
    policy = models.ForeignKey(
        EscalationPolicy, null=True, blank=True, on_delete=models.SET_NULL, related_name="escalations"
    )
    name = models.CharField(max_length=150, help_text="The policy's name when it started, or 'Reassigned to …'.")
    # [{"delay_minutes": 5, "users": [ids], "schedules": [ids], "channels": [ids]}, …]
    steps = models.JSONField(default=list)
    repeat = models.PositiveSmallIntegerField(default=0)
    state = models.CharField(max_length=12, choices=State.choices, default=State.ACTIVE)
    round = models.PositiveSmallIntegerField(default=0, help_text="0 for the first pass through the steps.")
    step_index = models.SmallIntegerField(default=-1, help_text="The step run last; -1 before the first.")
    next_step_at = models.DateTimeField(null=True, blank=True, help_text="When the next step is due while active.")
    started_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_reason = models.CharField(max_length=300, blank=True)

    objects = EscalationQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [
            models.Index(fields=["next_step_at"], name="oncall_escalation_due_idx", condition=Q(state="active")),
            models.Index(fields=["incident", "started_at"], name="oncall_escalation_incident_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["incident"], condition=Q(state="active"), name="oncall_one_active_escalation_per_incident"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} for {self.incident_id} ({self.get_state_display()})"

    @property
    def is_active(self) -> bool:
        return self.state == self.State.ACTIVE


class Page(models.Model):
    """One notification to one person, for one incident, at one step of its escalation; its
    ``contacts`` say how (which methods, when, delivered or failed)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        CANCELLED = "cancelled", "Cancelled"

    OPEN = (Status.PENDING, Status.SENT, Status.DELIVERED)

    escalation = models.ForeignKey(Escalation, on_delete=models.CASCADE, related_name="pages", db_index=False)
    incident = models.ForeignKey("incidents.Incident", on_delete=models.CASCADE, related_name="pages")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="pages")
    round = models.PositiveSmallIntegerField()
    step_index = models.PositiveSmallIntegerField()
    schedule = models.ForeignKey(
        Schedule,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The schedule the person was on call on; empty when the step names them.",
    )
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)
    delivered_via = models.CharField(max_length=200, blank=True, help_text="The contact method that reached them.")
    last_error = models.TextField(blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_via = models.CharField(
        max_length=150, blank=True, help_text="Who acknowledged and through which link."
    )
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["escalation", "round", "step_index", "user"], name="oncall_one_page_per_person_per_step"
            )
        ]
        indexes = [models.Index(fields=["user", "status"], name="oncall_page_user_status_idx")]

    def __str__(self) -> str:
        return f"Page to {self.user} for {self.incident_id} (step {self.step_index + 1})"

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN


class PageContact(models.Model):
    """One contact method of a page, used ``delay_minutes`` after the page unless it was
    acknowledged first; a failed delivery makes the next one due at once."""

    class Status(models.TextChoices):
        WAITING = "waiting", "Waiting"
        SENDING = "sending", "Sending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Not needed"

    page = models.ForeignKey(Page, on_delete=models.CASCADE, related_name="contacts", db_index=False)
    position = models.PositiveSmallIntegerField()
    # Empty for the account-email fallback of a user without rules, or once the method is removed.
    contact_method = models.ForeignKey(
        ContactMethod, null=True, blank=True, on_delete=models.SET_NULL, related_name="page_contacts"
    )
    kind = models.CharField(max_length=8, choices=ContactKind.choices)
    label = models.CharField(max_length=200, help_text="The method's title when the page was made.")
    delay_minutes = models.PositiveSmallIntegerField(default=0)
    due_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.WAITING)
    delivery = models.ForeignKey(
        "notifications.Delivery", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    sent_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["page_id", "position"]
        constraints = [models.UniqueConstraint(fields=["page", "position"], name="oncall_page_contact_position")]
        indexes = [
            models.Index(fields=["due_at"], name="oncall_contact_due_idx", condition=Q(status="waiting")),
            models.Index(fields=["delivery"], name="oncall_contact_sending_idx", condition=Q(status="sending")),
        ]

    def __str__(self) -> str:
        return f"{self.label} for page {self.page_id} ({self.get_status_display()})"
