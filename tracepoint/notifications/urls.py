"""Dashboard pages of the notification channels."""

from django.urls import path

from tracepoint.notifications import views

app_name = "channels"

urlpatterns = [
    path("", views.index, name="index"),
    path("new/", views.create, name="create"),
    path("<int:pk>/", views.edit, name="edit"),
    path("<int:pk>/toggle/", views.toggle, name="toggle"),
    path("<int:pk>/test/", views.send_test, name="test"),
    path("<int:pk>/delete/", views.delete, name="delete"),
]
