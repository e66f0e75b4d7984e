from django.urls import path

from incidents.intake import views

app_name = "intake"

urlpatterns = [
    path("alertmanager", views.alertmanager_webhook, name="alertmanager"),
    path("alertmanager/<str:token>", views.alertmanager_webhook, name="alertmanager-token"),
]
