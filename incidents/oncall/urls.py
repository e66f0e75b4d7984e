"""On-call dashboard pages (mounted at /oncall/). Each page module lists its own URL patterns."""

from django.urls import include, path

from incidents.oncall import feeds, incident_views, me_views, policy_views, schedule_views, views

app_name = "oncall"

urlpatterns = [
    path("me/contact-methods/", views.contact_methods, name="contact-methods"),
    path("me/contact-methods/new/", views.contact_method_create, name="contact-method-create"),
    path("me/contact-methods/use-account-email/", views.contact_method_use_email, name="contact-method-use-email"),
    path("me/contact-methods/<int:pk>/", views.contact_method_edit, name="contact-method-edit"),
    path("me/contact-methods/<int:pk>/test/", views.contact_method_test, name="contact-method-test"),
    path("me/contact-methods/<int:pk>/delete/", views.contact_method_delete, name="contact-method-delete"),
    path("me/notification-rules/", views.notification_rule_create, name="notification-rule-create"),
    path("me/notification-rules/<int:pk>/delete/", views.notification_rule_delete, name="notification-rule-delete"),
    path("", include(me_views.urlpatterns)),  # /oncall/me/: my shifts, my open pages
    path("", include(feeds.urlpatterns)),  # iCal feeds at secret addresses
    path("", include(schedule_views.urlpatterns)),  # /oncall/: teams, schedules, overrides
    path("", include(policy_views.urlpatterns)),  # escalation policies
    path("", include(incident_views.urlpatterns)),  # an incident's escalation panel and actions
]
