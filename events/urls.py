from django.urls import path

from events import live, project_views, views

app_name = "events"

urlpatterns = [
    path("", views.index, name="index"),
    path("live/", live.issues_stream, name="live"),
    path("<int:pk>/", views.detail, name="detail"),
    path("<int:pk>/status/", views.set_status, name="status"),
    path("<int:pk>/assign/", views.assign, name="assign"),
    path("<int:pk>/comments/", views.comment, name="comment"),
    path("<int:pk>/incident/", views.open_incident, name="open_incident"),
    path("<int:pk>/events/<int:event_pk>/", views.event_detail, name="event"),
    path("services/<str:service>/", views.service_timeline, name="service_timeline"),
    path("daily-summary/", views.daily_summary_switch, name="daily_summary_switch"),
    path("projects/", project_views.project_list, name="projects"),
    path("projects/new/", project_views.project_create, name="project_create"),
    path("projects/<int:pk>/", project_views.project_detail, name="project"),
    path("projects/<int:pk>/keys/rotate/", project_views.key_rotate, name="key_rotate"),
    path("projects/<int:pk>/quota/", project_views.project_quota, name="project_quota"),
    path("projects/<int:pk>/members/", project_views.members, name="members"),
    path("projects/<int:pk>/events/delete/", project_views.wipe_events, name="wipe_events"),
    path("projects/<int:pk>/alert-rules/", project_views.alert_rule_create, name="alert_rule_create"),
    path(
        "projects/<int:pk>/alert-rules/<int:rule_pk>/delete/", project_views.alert_rule_delete, name="alert_rule_delete"
    ),
    path("projects/<int:pk>/keys/<int:key_pk>/revoke/", project_views.key_revoke, name="key_revoke"),
]
