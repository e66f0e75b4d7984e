"""The status page panel of the incident page: where the incident is shown, the drafts to publish it or
bring its public timeline up to date (statuspages.drafts), and the hand-written publish and update forms."""

from django import template

from statuspages.draft_views import panel_context

register = template.Library()


@register.inclusion_tag("statuspages/_incident_panel.html", takes_context=True)
def incident_status_pages(context, incident):
    return panel_context(
        incident,
        can_write=context.get("can_write", False),
        live=bool(context.get("live_url")),
        csrf_token=context.get("csrf_token"),
    )
