from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "tracepoint.notifications"
    label = "notifications"
    verbose_name = "Notifications"
