from django.urls import path

from monitors import views

app_name = "monitors"

urlpatterns = [
    path("", views.index, name="index"),
    path("new/", views.create, name="create"),
    path("form/cron-preview/", views.cron_preview_fragment, name="cron-preview"),
    path("form/test/", views.test_draft, name="test-draft"),
    path("<int:pk>/", views.detail, name="detail"),
    path("<int:pk>/edit/", views.edit, name="edit"),
    path("<int:pk>/pause/", views.pause, name="pause"),
    path("<int:pk>/resume/", views.resume, name="resume"),
    path("<int:pk>/test/", views.check_now, name="check_now"),
]
