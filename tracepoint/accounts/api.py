from django.contrib.auth import get_user_model
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import Throttled
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from tracepoint.accounts import services
from tracepoint.accounts.permissions import IsAdmin
from tracepoint.accounts.serializers import TokenRequestSerializer, TokenResponseSerializer, UserSerializer
from tracepoint.api.pagination import StandardPagination
from tracepoint.api.routers import OptionalSlashRouter
from tracepoint.errors import DomainError, NotFoundError


class InvalidCredentials(DomainError):
    code = "AUTHENTICATION_REQUIRED"
    status_code = 401


class TokenView(APIView):
    """Exchange a username and password for a new API token."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_scope = "auth"
    throttle_fail_closed = True  # guards passwords: no Redis, no guessing (tracepoint.ratelimit)

    @extend_schema(request=TokenRequestSerializer, responses={201: TokenResponseSerializer}, tags=["auth"])
    def post(self, request):
        serializer = TokenRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            user = services.authenticate_user(
                request._request,
                username=serializer.validated_data["username"],
                password=serializer.validated_data["password"],
            )
        except services.LoginDelayed as exc:
            raise Throttled(wait=exc.retry_after, detail=exc.message) from None
        if user is None or not user.is_active:
            raise InvalidCredentials("Invalid username or password.")
        token, key = services.issue_token(user, name=serializer.validated_data["name"])
        body = {"token": key, "name": token.name, "prefix": token.prefix, "created_at": token.created_at, "user": user}
        return Response(TokenResponseSerializer(body).data, status=status.HTTP_201_CREATED)


@extend_schema_view(
    retrieve=extend_schema(parameters=[OpenApiParameter("id", int, OpenApiParameter.PATH)]),
    partial_update=extend_schema(parameters=[OpenApiParameter("id", int, OpenApiParameter.PATH)]),
    destroy=extend_schema(parameters=[OpenApiParameter("id", int, OpenApiParameter.PATH)]),
)
class UserViewSet(viewsets.ViewSet):
    """Admins manage users; ``GET /api/v1/users/me`` is for everyone."""

    permission_classes = [IsAdmin]
    lookup_value_regex = "[0-9]+"
    pagination_class = StandardPagination  # list() pages; drf-spectacular documents the page envelope from this

    def get_permissions(self):
        if self.action == "me":
            return [IsAuthenticated()]
        return super().get_permissions()

    def _get(self, pk):
        user = get_user_model().objects.filter(pk=pk).prefetch_related("groups").first()
        if user is None:
            raise NotFoundError("No such user.")
        return user

    @extend_schema(responses={200: UserSerializer(many=True)}, tags=["users"])
    def list(self, request):
        users = get_user_model().objects.order_by("username").prefetch_related("groups")
        page = StandardPagination()
        found = page.paginate_queryset(users, request, view=self)
        return page.get_paginated_response(UserSerializer(found, many=True).data)

    @extend_schema(request=UserSerializer, responses={201: UserSerializer}, tags=["users"])
    def create(self, request):
        body = UserSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        user = services.create_user(
            username=data["username"],
            email=data.get("email", ""),
            name=data.get("first_name", ""),
            role=data.get("role"),
            invite=data.get("invite", True),
            by=request.user,
        )
        return Response(UserSerializer(user).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={200: UserSerializer}, tags=["users"])
    def retrieve(self, request, pk=None):
        return Response(UserSerializer(self._get(pk)).data)

    @extend_schema(request=UserSerializer, responses={200: UserSerializer}, tags=["users"])
    def partial_update(self, request, pk=None):
        user = self._get(pk)
        body = UserSerializer(user, data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        changes = dict(body.validated_data)
        changes.pop("invite", None)
        if "first_name" in changes:
            changes["name"] = changes.pop("first_name")
        user = services.update_user(user, changes=changes, by=request.user)
        return Response(UserSerializer(user).data)

    @extend_schema(responses={204: None}, tags=["users"])
    def destroy(self, request, pk=None):
        services.delete_user(self._get(pk), by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(responses={200: UserSerializer}, tags=["users"])
    @action(detail=False, methods=["get"])
    def me(self, request):
        return Response(UserSerializer(request.user).data)


router = OptionalSlashRouter()
router.register(r"users", UserViewSet, basename="user")
