"""DRF viewsets of this app, registered on `router` and mounted under /api/v1/."""

from tracepoint.api.routers import OptionalSlashRouter

router = OptionalSlashRouter()
