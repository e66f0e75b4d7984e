"""The incident page's status-page drafts (issue 17): included in statuspages/urls.py."""

from django.urls import path

from statuspages import draft_views

urlpatterns: list = [
    path("drafts/<uuid:incident_pk>/", draft_views.panel, name="drafts"),
    path("drafts/<uuid:incident_pk>/publish/<slug:slug>/", draft_views.publish_draft, name="publish-draft"),
    path(
        "drafts/<uuid:incident_pk>/updates/<slug:public_id>/", draft_views.post_draft_update, name="post-draft-update"
    ),
]
