from django.urls import path

from incidents.intake import views

app_name = "intake"

urlpatterns = [
    path("alertmanager", views.alertmanager_webhook, name="alertmanager"),
    path("alertmanager/<str:token>", views.alertmanager_webhook, name="alertmanager-token"),
    path("grafana", views.grafana_webhook, name="grafana"),
    path("grafana/<str:token>", views.grafana_webhook, name="grafana-token"),
    path("generic", views.generic_webhook, name="generic"),
    path("generic/<str:token>", views.generic_webhook, name="generic-token"),
    # PagerDuty's paths under our prefix: an Events API v2 client only changes its base URL.
    path("events/v2/enqueue", views.events_v2_enqueue, name="events-v2-enqueue"),
    path("events/v2/change/enqueue", views.events_v2_change_enqueue, name="events-v2-change-enqueue"),
]
