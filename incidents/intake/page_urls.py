"""Dashboard pages of intake: alerts and integrations."""

from django.urls import path

from incidents.intake import pages

app_name = "alerts"

urlpatterns = [
    path("alerts/", pages.alert_list, name="list"),
    path("alerts/<int:pk>/", pages.alert_detail, name="detail"),
    path("alerts/payloads/<int:pk>/", pages.payload_detail, name="payload"),
    path("integrations/", pages.integration_list, name="integrations"),
    path("integrations/new/", pages.integration_create, name="integration-create"),
    path("integrations/<int:pk>/", pages.integration_detail, name="integration"),
    path("integrations/<int:pk>/edit/", pages.integration_edit, name="integration-edit"),
    path("integrations/<int:pk>/token/", pages.integration_token, name="integration-token"),
    path("integrations/<int:pk>/rotate/", pages.integration_rotate, name="integration-rotate"),
    path("integrations/<int:pk>/active/", pages.integration_active, name="integration-active"),
]
