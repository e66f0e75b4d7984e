from django.urls import path, re_path

from statuspages import draft_urls, views

app_name = "statuspages"

SLUG = r"(?P<slug>[a-z0-9](?:[a-z0-9-]{0,48}[a-z0-9])?)"
ID = r"(?P<public_id>[a-z0-9]{12})"

urlpatterns = [
    *draft_urls.urlpatterns,
    path("", views.index, name="index"),
    path("new/", views.new, name="new"),
    path("publish/<uuid:incident_pk>/", views.publish, name="publish"),
    re_path(rf"^updates/{ID}/$", views.post_update, name="post-update"),
    re_path(rf"^{SLUG}/$", views.detail, name="detail"),
    re_path(rf"^{SLUG}/edit/$", views.edit, name="edit"),
    re_path(rf"^{SLUG}/setup/components/$", views.setup_components, name="setup-components"),
    re_path(rf"^{SLUG}/setup/preview/$", views.setup_preview, name="setup-preview"),
    re_path(rf"^{SLUG}/preview/$", views.preview, name="preview"),
    re_path(rf"^{SLUG}/components/$", views.add_component, name="add-component"),
    re_path(rf"^{SLUG}/groups/$", views.add_group, name="add-group"),
    re_path(rf"^{SLUG}/components/{ID}/delete/$", views.delete_component, name="delete-component"),
    re_path(rf"^{SLUG}/components/{ID}/status/$", views.component_status, name="component-status"),
    re_path(rf"^{SLUG}/maintenance/$", views.add_maintenance, name="add-maintenance"),
    re_path(rf"^{SLUG}/maintenance/{ID}/complete/$", views.complete_maintenance, name="complete-maintenance"),
]
