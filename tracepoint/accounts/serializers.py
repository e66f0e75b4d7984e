from django.contrib.auth import get_user_model
from rest_framework import serializers

from tracepoint.accounts.roles import group_role, user_role


class TokenRequestSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=256, trim_whitespace=False, style={"input_type": "password"})
    name = serializers.CharField(max_length=100, required=False, default="API token")


class TokenUserSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    role = serializers.SerializerMethodField()

    def get_role(self, user) -> str | None:
        return user_role(user)


class TokenResponseSerializer(serializers.Serializer):
    token = serializers.CharField(
        help_text="Shown once; send it as 'Authorization: Token <token>' or 'Bearer <token>'."
    )
    name = serializers.CharField()
    prefix = serializers.CharField()
    created_at = serializers.DateTimeField()
    user = TokenUserSerializer()


class UserSerializer(serializers.Serializer):
    """``name`` is the user's full name (Django's first_name); ``role`` one of viewer, responder, admin or null."""

    id = serializers.IntegerField(read_only=True)
    username = serializers.RegexField(r"^[\w.@+-]{1,150}$", max_length=150)
    email = serializers.EmailField(required=False, allow_blank=True)
    name = serializers.CharField(source="first_name", required=False, allow_blank=True, max_length=150)
    role = serializers.ChoiceField(choices=["viewer", "responder", "admin"], allow_null=True, required=False)
    is_active = serializers.BooleanField(required=False)
    invite = serializers.BooleanField(write_only=True, required=False, default=True)
    date_joined = serializers.DateTimeField(read_only=True)
    last_login = serializers.DateTimeField(read_only=True, allow_null=True)

    def validate_username(self, value: str) -> str:
        """Taken (ignoring case, as on create) is a 400 here, not an IntegrityError when saving."""
        others = get_user_model().objects.filter(username__iexact=value)
        if self.instance is not None:
            others = others.exclude(pk=self.instance.pk)
        if others.exists():
            raise serializers.ValidationError("Already in use.")
        return value

    def to_representation(self, user):
        data = super().to_representation(user)
        data["role"] = user_role(user) if user.is_active else group_role(user)
        return data
