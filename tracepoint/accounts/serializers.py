from rest_framework import serializers

from tracepoint.accounts.roles import user_role


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
