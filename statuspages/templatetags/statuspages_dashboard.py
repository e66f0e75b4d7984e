"""The status page panel of the incident page: where the incident is shown, publish it, post updates."""

from django import template

from statuspages.forms import PublishForm, UpdateForm
from statuspages.models import PageIncident, StatusPage

register = template.Library()


@register.inclusion_tag("statuspages/_incident_panel.html", takes_context=True)
def incident_status_pages(context, incident):
    links = list(PageIncident.objects.filter(incident=incident).select_related("page").prefetch_related("updates"))
    return {
        "incident": incident,
        "links": links,
        "can_write": context.get("can_write", False),
        "publish_form": PublishForm(),
        "update_form": UpdateForm(),
        "has_pages": StatusPage.objects.exists(),
        "csrf_token": context.get("csrf_token"),
    }
