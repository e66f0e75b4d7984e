"""The incident page's status-page drafts (issue 17): included in statuspages/urls.py."""

urlpatterns: list = []
