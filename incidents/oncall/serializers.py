"""Serializers of ``/api/v1/teams``, ``/api/v1/schedules``, ``/api/v1/escalation-policies`` and an
incident's pages (``/api/v1/incidents/{id}/pages``). Read shapes and write shapes are separate:
users are written as a username or an id and read back as ``{"id", "username", "name"}``. The write
serializers check the shape only; the rules (one team per service, active participants, valid
restrictions, time zones) are the services' (``incidents.oncall.services``)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from incidents.oncall import policies
from incidents.oncall.models import (
    MAX_POLICY_REPEAT,
    MAX_POLICY_STEPS,
    MAX_STEP_DELAY_MINUTES,
    EscalationPolicy,
    EscalationStep,
    Layer,
    Override,
    Page,
    PageContact,
    Schedule,
    ShiftUnit,
    Team,
)
from incidents.oncall.schedule import LAYER, OVERRIDE
from tracepoint.notifications.models import NotificationChannel


class UserRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    name = serializers.SerializerMethodField()

    def get_name(self, user) -> str:
        return user.get_full_name() or user.username


@extend_schema_field({"oneOf": [{"type": "string", "example": "alice"}, {"type": "integer", "example": 7}]})
class UserField(serializers.Field):
    """A user by username or id (an existing user; whether they may be on call is the service's rule)."""

    default_error_messages = {
        "unknown": "No user {value!r}.",
        "invalid": "A username or a user id.",
    }

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, (str, int)):
            self.fail("invalid")
        User = get_user_model()
        if isinstance(data, int) or (data.isascii() and data.isdigit()):
            if not 0 < int(data) < 2**63:
                self.fail("unknown", value=data)
            lookup = {"pk": int(data)}
        else:
            if not data.strip() or len(data) > 150 or "\x00" in data:
                self.fail("invalid")
            lookup = {"username": data.strip()}
        try:
            return User.objects.get(**lookup)
        except User.DoesNotExist:
            self.fail("unknown", value=data)

    def to_representation(self, value):
        return UserRefSerializer(value).data


# --- teams ----------------------------------------------------------------------------------------


class TeamRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Team
        fields = ["id", "name", "slug"]
        read_only_fields = fields


class TeamSerializer(serializers.ModelSerializer):
    members = UserRefSerializer(many=True, read_only=True)
    services = serializers.ListField(child=serializers.CharField(), read_only=True)
    schedules = serializers.SerializerMethodField(help_text="The team's schedules: id and name.")

    class Meta:
        model = Team
        fields = ["id", "name", "slug", "services", "members", "schedules", "created_at"]
        read_only_fields = fields

    @extend_schema_field(
        {
            "type": "array",
            "items": {"type": "object", "properties": {"id": {"type": "integer"}, "name": {"type": "string"}}},
        }
    )
    def get_schedules(self, team: Team) -> list[dict]:
        return [{"id": s.pk, "name": s.name} for s in team.schedules.all()]


class TeamWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    slug = serializers.SlugField(max_length=100, required=False, help_text="Default: made from the name.")
    services = serializers.ListField(
        child=serializers.CharField(max_length=100),
        required=False,
        max_length=200,
        help_text='Service names the team owns, e.g. ["api", "checkout"]; a service belongs to one team.',
    )
    members = serializers.ListField(
        child=UserField(), required=False, max_length=500, help_text="Usernames or user ids."
    )


# --- schedules and layers -------------------------------------------------------------------------


class LayerSerializer(serializers.ModelSerializer):
    participants = serializers.SerializerMethodField(help_text="The rotation order; a user may appear more than once.")
    restrictions = serializers.JSONField(
        read_only=True, help_text='Windows the layer is on call in, local time: [{"days": [...], "start", "end"}].'
    )

    class Meta:
        model = Layer
        fields = [
            "id",
            "name",
            "order",
            "shift_count",
            "shift_unit",
            "handoff_time",
            "start_date",
            "restrictions",
            "participants",
            "created_at",
        ]
        read_only_fields = fields

    @extend_schema_field(UserRefSerializer(many=True))
    def get_participants(self, layer: Layer) -> list[dict]:
        places = sorted(layer.participants.all(), key=lambda p: p.position)
        return UserRefSerializer([p.user for p in places], many=True).data


class LayerWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    order = serializers.IntegerField(
        min_value=0, max_value=32767, required=False, help_text="Higher layers win; default: on top of the others."
    )
    shift_count = serializers.IntegerField(min_value=1, max_value=1000, required=False, default=1)
    shift_unit = serializers.ChoiceField(choices=ShiftUnit.choices, required=False, default=ShiftUnit.WEEKS)
    handoff_time = serializers.TimeField(
        required=False, help_text="Local time the shift changes hands, e.g. 09:00 (default)."
    )
    start_date = serializers.DateField(help_text="Local date of the first handoff.")
    restrictions = serializers.JSONField(
        required=False,
        help_text='e.g. [{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "18:00"}]; '
        "an end before the start crosses midnight.",
    )
    participants = serializers.ListField(
        child=UserField(), required=False, max_length=500, help_text="Usernames or user ids, in rotation order."
    )


class ScheduleSerializer(serializers.ModelSerializer):
    team = TeamRefSerializer(read_only=True)

    class Meta:
        model = Schedule
        fields = ["id", "team", "name", "time_zone", "description", "created_at"]
        read_only_fields = fields


class ScheduleDetailSerializer(ScheduleSerializer):
    layers = LayerSerializer(many=True, read_only=True)

    class Meta(ScheduleSerializer.Meta):
        fields = [*ScheduleSerializer.Meta.fields, "layers"]
        read_only_fields = fields


class ScheduleWriteSerializer(serializers.Serializer):
    team = serializers.PrimaryKeyRelatedField(queryset=Team.objects.all(), help_text="Team id.")
    name = serializers.CharField(max_length=100)
    time_zone = serializers.CharField(
        max_length=64, required=False, default="UTC", help_text="IANA time zone, e.g. Europe/Paris."
    )
    description = serializers.CharField(required=False, allow_blank=True, default="")


# --- overrides ------------------------------------------------------------------------------------


class OverrideSerializer(serializers.ModelSerializer):
    user = UserRefSerializer(read_only=True)
    created_by = UserRefSerializer(read_only=True, allow_null=True)

    class Meta:
        model = Override
        fields = ["id", "schedule", "user", "start", "end", "note", "created_by", "created_at"]
        read_only_fields = fields


class OverrideWriteSerializer(serializers.Serializer):
    user = UserField(help_text="Who covers: a username or a user id.")
    start = serializers.DateTimeField(help_text="ISO-8601 with an offset, e.g. 2026-03-28T18:00:00+01:00.")
    end = serializers.DateTimeField()
    note = serializers.CharField(max_length=200, required=False, allow_blank=True)


# --- who is on call -------------------------------------------------------------------------------


class ShiftSerializer(serializers.Serializer):
    user = UserRefSerializer()
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    source = serializers.ChoiceField(choices=[LAYER, OVERRIDE], help_text="A layer's rotation or an override.")
    source_id = serializers.IntegerField(allow_null=True, help_text="The layer's or the override's id.")
    source_name = serializers.CharField(help_text='The layer\'s name, or "Override".')


class GapSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()


class OnCallSerializer(serializers.Serializer):
    schedule = serializers.IntegerField()
    time_zone = serializers.CharField()
    at = serializers.DateTimeField()
    on_call = ShiftSerializer(
        many=True, help_text="Who is on call at `at` and the shift they are in; empty when nobody is (a gap)."
    )


class ShiftsSerializer(serializers.Serializer):
    schedule = serializers.IntegerField()
    time_zone = serializers.CharField()
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    shifts = ShiftSerializer(many=True, help_text="The final schedule, layers and overrides together, by start.")
    gaps = GapSerializer(many=True, help_text="The ranges nobody is on call.")


# --- escalation policies --------------------------------------------------------------------------


class ScheduleRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Schedule
        fields = ["id", "name"]
        read_only_fields = fields


class ChannelRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = NotificationChannel
        fields = ["id", "name"]
        read_only_fields = fields


class EscalationStepSerializer(serializers.ModelSerializer):
    users = UserRefSerializer(many=True, read_only=True, help_text="People paged at this step.")
    schedules = ScheduleRefSerializer(
        many=True, read_only=True, help_text="Whoever is on call on these schedules when the step runs is paged."
    )
    channels = ChannelRefSerializer(many=True, read_only=True, help_text="Notification channels told at this step.")

    class Meta:
        model = EscalationStep
        fields = ["delay_minutes", "users", "schedules", "channels"]
        read_only_fields = fields
        extra_kwargs = {"delay_minutes": {"help_text": "Minutes to wait for an acknowledgement before the next step."}}


class EscalationPolicySerializer(serializers.ModelSerializer):
    team = TeamRefSerializer(read_only=True)
    services = serializers.ListField(
        child=serializers.CharField(), read_only=True, help_text="Services whose incidents this policy pages for."
    )
    is_default = serializers.SerializerMethodField(
        help_text="The team's default: it pages for the team's services that no policy names."
    )
    steps = EscalationStepSerializer(many=True, read_only=True, help_text="In order: step 1 first.")

    class Meta:
        model = EscalationPolicy
        fields = ["id", "team", "name", "description", "repeat", "services", "is_default", "steps", "created_at"]
        read_only_fields = fields

    def get_is_default(self, policy: EscalationPolicy) -> bool:
        return policies.is_default(policy)


class EscalationStepWriteSerializer(serializers.Serializer):
    delay_minutes = serializers.IntegerField(
        min_value=1,
        max_value=MAX_STEP_DELAY_MINUTES,
        required=False,
        default=15,
        help_text="Minutes to wait for an acknowledgement before the next step (default 15).",
    )
    users = serializers.ListField(
        child=UserField(), required=False, default=list, max_length=100, help_text="User ids or usernames."
    )
    schedules = serializers.PrimaryKeyRelatedField(
        queryset=Schedule.objects.all(), many=True, required=False, default=list, help_text="Schedule ids (any team's)."
    )
    channels = serializers.PrimaryKeyRelatedField(
        queryset=NotificationChannel.objects.all(),
        many=True,
        required=False,
        default=list,
        help_text="Notification channel ids.",
    )

    def to_spec(self, data: dict) -> policies.StepSpec:
        return policies.StepSpec(
            delay_minutes=data.get("delay_minutes", 15),
            users=data.get("users", []),
            schedules=data.get("schedules", []),
            channels=data.get("channels", []),
        )


class EscalationPolicyWriteSerializer(serializers.Serializer):
    """Steps are written whole: the list given replaces the policy's steps."""

    team = serializers.PrimaryKeyRelatedField(queryset=Team.objects.all(), help_text="Team id.")
    name = serializers.CharField(max_length=100)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    repeat = serializers.IntegerField(
        min_value=0,
        max_value=MAX_POLICY_REPEAT,
        required=False,
        default=0,
        help_text="After the last step, start again from the first this many more times.",
    )
    services = serializers.ListField(
        child=serializers.CharField(max_length=100),
        required=False,
        default=list,
        max_length=200,
        help_text='e.g. ["checkout"]; a service maps to one policy. Other services of the team use its default.',
    )
    is_default = serializers.BooleanField(
        required=False, default=False, help_text="Make it the team's default policy (false: stop being it)."
    )
    steps = EscalationStepWriteSerializer(
        many=True,
        min_length=1,
        max_length=MAX_POLICY_STEPS,
        help_text="Every step, in order; each names at least one user, schedule or channel.",
    )

    def service_fields(self) -> dict:
        """The validated values as ``policies.create_policy``/``update_policy`` keywords (only those sent on PATCH)."""
        data = self.validated_data
        sent = set(self.initial_data) if self.partial else set(self.fields)
        fields = {name: data[name] for name in ("team", "name", "description", "repeat", "services") if name in sent}
        if "is_default" in sent:
            fields["default"] = data["is_default"]
        if "steps" in sent:
            child = self.fields["steps"].child
            fields["steps"] = [child.to_spec(step) for step in data["steps"]]
        return fields


# --- pages of an incident -------------------------------------------------------------------------


class PageContactSerializer(serializers.ModelSerializer):
    class Meta:
        model = PageContact
        fields = ["label", "kind", "delay_minutes", "due_at", "status", "sent_at", "finished_at", "error"]
        read_only_fields = fields
        extra_kwargs = {
            "delay_minutes": {"help_text": "Minutes after the page this method is used unless acknowledged first."},
            "error": {"help_text": "Why the delivery failed, if it did."},
        }


class PageSerializer(serializers.ModelSerializer):
    user = UserRefSerializer(read_only=True)
    step = serializers.SerializerMethodField(help_text="The step of the escalation that paged, from 1.")
    schedule = ScheduleRefSerializer(
        read_only=True, allow_null=True, help_text="The schedule they were on call on; null when the step names them."
    )
    contacts = PageContactSerializer(many=True, read_only=True, help_text="The contact methods used, in order.")

    class Meta:
        model = Page
        fields = [
            "id",
            "escalation",
            "user",
            "round",
            "step",
            "schedule",
            "status",
            "created_at",
            "delivered_at",
            "delivered_via",
            "last_error",
            "acknowledged_at",
            "acknowledged_via",
            "contacts",
        ]
        read_only_fields = fields
        extra_kwargs = {"round": {"help_text": "The pass through the policy's steps: 0 first, then 1 per repeat."}}

    def get_step(self, page: Page) -> int:
        return page.step_index + 1
