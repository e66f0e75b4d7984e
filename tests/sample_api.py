"""A sample API used by the plumbing tests (mounted by tests.urls only)."""

from django.contrib.auth.models import Group
from django.db import OperationalError
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from tracepoint.accounts.permissions import IsAdmin
from tracepoint.accounts.roles import ROLES


class GroupSerializer(serializers.ModelSerializer):
    name = serializers.CharField(max_length=150)

    class Meta:
        model = Group
        fields = ["id", "name"]


class SampleViewSet(viewsets.ModelViewSet):
    """Viewers read, responders write (the API default), admins also delete."""

    queryset = Group.objects.exclude(name__in=ROLES).order_by("id")
    serializer_class = GroupSerializer
    filterset_fields = ["name"]
    ordering_fields = ["id", "name"]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_permissions(self):
        if self.action == "destroy":
            return [IsAdmin()]
        return super().get_permissions()

    @action(detail=False, methods=["get"])
    def boom(self, request):
        raise RuntimeError("sample failure")

    @action(detail=False, methods=["get"])
    def database_gone(self, request):
        raise OperationalError("connection to server at 127.0.0.1, port 1 failed: Connection refused")

    @action(detail=False, methods=["get"])
    def ok(self, request):
        return Response({"user": request.user.get_username()})
