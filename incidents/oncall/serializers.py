"""Serializers of ``/api/v1/teams`` and ``/api/v1/schedules``. Read shapes and write shapes are separate:
users are written as a username or an id and read back as ``{"id", "username", "name"}``. The write
serializers check the shape only; the rules (one team per service, active participants, valid
restrictions, time zones) are the services' (``incidents.oncall.services``)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from incidents.oncall.models import Layer, Override, Schedule, ShiftUnit, Team
from incidents.oncall.schedule import LAYER, OVERRIDE


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
