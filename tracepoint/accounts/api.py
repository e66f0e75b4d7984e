from django.contrib.auth import authenticate
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from tracepoint.accounts import services
from tracepoint.accounts.serializers import TokenRequestSerializer, TokenResponseSerializer
from tracepoint.errors import DomainError


class InvalidCredentials(DomainError):
    code = "AUTHENTICATION_REQUIRED"
    status_code = 401


class TokenView(APIView):
    """Exchange a username and password for a new API token."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_scope = "auth"

    @extend_schema(request=TokenRequestSerializer, responses={201: TokenResponseSerializer}, tags=["auth"])
    def post(self, request):
        serializer = TokenRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = authenticate(
            request._request,
            username=serializer.validated_data["username"],
            password=serializer.validated_data["password"],
        )
        if user is None or not user.is_active:
            raise InvalidCredentials("Invalid username or password.")
        token, key = services.issue_token(user, name=serializer.validated_data["name"])
        body = {"token": key, "name": token.name, "prefix": token.prefix, "created_at": token.created_at, "user": user}
        return Response(TokenResponseSerializer(body).data, status=status.HTTP_201_CREATED)
