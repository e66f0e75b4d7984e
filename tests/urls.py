from django.urls import include, path

from tests.sample_api import SampleViewSet
from tracepoint.api.routers import OptionalSlashRouter
from tracepoint.urls import urlpatterns as project_urlpatterns

router = OptionalSlashRouter()
router.register("samples", SampleViewSet, basename="sample")

urlpatterns = [path("api/v1/", include(router.urls)), *project_urlpatterns]

handler400 = "tracepoint.views.bad_request"
handler403 = "tracepoint.views.permission_denied"
handler404 = "tracepoint.views.page_not_found"
handler500 = "tracepoint.views.server_error"


def _boom(request):
    raise RuntimeError("page failure")


urlpatterns.append(path("boom/", _boom))
