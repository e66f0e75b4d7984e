from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path, register_converter
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from events import live, sentry
from events.api import ServiceTimelineView
from events.api import router as events_router
from incidents.api import router as incidents_router
from monitors import ping
from monitors.api import router as monitors_router
from statuspages import public, public_urls
from statuspages.api import router as statuspages_router
from tracepoint import overview, scrape, views
from tracepoint.accounts import views as account_views
from tracepoint.accounts.api import TokenView
from tracepoint.accounts.api import router as users_router
from tracepoint.accounts.roles import ADMIN, has_role
from tracepoint.fastpath import Route

api_v1 = [
    re_path(r"^auth/token/?$", TokenView.as_view(), name="auth-token"),
    *users_router.urls,
    re_path(r"^projects/(?P<pk>[0-9]+)/stream/?$", live.project_stream, name="project-stream"),
    *incidents_router.urls,
    path("", include("incidents.intake.api")),  # alerts; a string: the import contract allows two-level modules
    path("", include("incidents.oncall.api")),  # teams, schedules, who is on call
    *events_router.urls,
    re_path(r"^services/(?P<service>[^/]+)/timeline/?$", ServiceTimelineView.as_view(), name="service-timeline"),
    *monitors_router.urls,
    *statuspages_router.urls,
]

register_converter(ping.PingKeyConverter, "ping_key")

# Sentry SDKs derive these from the DSN (shared/specs/sentry-ingest.md).
sentry_urlpatterns = [
    path("api/<int:project_id>/envelope/", sentry.envelope_view, name="sentry-envelope"),
    path("api/<int:project_id>/store/", sentry.store_view, name="sentry-store"),
]
# Heartbeat pings (shared/specs/heartbeat-pings.md): the key is the credential.
ping_urlpatterns = [
    path("ping/<ping_key:key>", ping.ping, name="ping"),
    path("ping/<ping_key:key>/<str:action>", ping.ping, name="ping-action"),
]
# The routes the production WSGI application answers without the whole middleware chain
# (tracepoint.wsgi, tracepoint.fastpath): the same pattern objects as below, so both agree.
INGEST_ROUTES = [Route(sentry_urlpatterns, frozenset({"POST"}))]  # OPTIONS preflights and wrong methods: Django
FAST_ROUTES = [
    *INGEST_ROUTES,  # also the ASGI ingest service's (tracepoint.ingest_asgi)
    Route(ping_urlpatterns, frozenset(ping.ALLOWED_METHODS), answer=ping.answer),
    Route(
        public_urls.urlpatterns,
        frozenset({"GET", "HEAD"}),
        namespace=public_urls.app_name,
        from_cache=public.from_cache,
    ),
]

urlpatterns = [
    path("", overview.overview, name="overview"),
    path("health", views.health, name="health"),
    *ping_urlpatterns,
    path("ready", views.ready, name="ready"),
    path("metrics", scrape.metrics_view, name="metrics"),
    path("login/", account_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("account/", include("tracepoint.accounts.urls")),
    path("incidents/", include("incidents.urls")),
    path("issues/", include("events.urls")),
    path("monitors/", include("monitors.urls")),
    path("status-pages/", include("statuspages.urls")),
    # Alerts received from other tools, and the integrations that send them (incidents.intake).
    path("", include("incidents.intake.page_urls")),
    path("channels/", include("tracepoint.notifications.urls")),
    path("oncall/", include("incidents.oncall.urls")),
    # Public status pages, their JSON, feeds and badges (statuspages.public).
    path("", include(public_urls)),
    # One login page for everyone, with its rate limit: the admin's own login form redirects there.
    path("admin/login/", RedirectView.as_view(pattern_name="login", query_string=True), name="admin-login"),
    path("admin/", admin.site.urls),
    *sentry_urlpatterns,
    # Alerts from the tools teams run (incidents.intake); the integration's token is the credential.
    path("api/v1/intake/", include("incidents.intake.urls")),
    path("api/v1/", include((api_v1, "api"), namespace="v1")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
]

handler400 = "tracepoint.views.bad_request"
handler403 = "tracepoint.views.permission_denied"
handler404 = "tracepoint.views.page_not_found"
handler500 = "tracepoint.views.server_error"


def _admin_site_permission(request) -> bool:
    """Django admin is for the admin role (the group, not only the is_staff flag)."""
    return request.user.is_active and has_role(request.user, ADMIN)


admin.site.has_permission = _admin_site_permission
admin.site.site_header = "Tracepoint administration"
admin.site.site_title = "Tracepoint admin"
