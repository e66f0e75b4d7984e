from django.urls import path

from statuspages import views

app_name = "statuspages"

urlpatterns = [
    path("", views.index, name="index"),
]
