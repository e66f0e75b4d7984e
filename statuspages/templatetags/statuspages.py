from django import template

from statuspages import markdown as markdown_module

register = template.Library()

STATUS_WORDS = {
    "operational": "Operational",
    "degraded_performance": "Degraded performance",
    "partial_outage": "Partial outage",
    "major_outage": "Major outage",
    "under_maintenance": "Under maintenance",
}


@register.filter
def markdown(text: str):
    """Operator Markdown, sanitised (statuspages.markdown)."""
    return markdown_module.render(text)


@register.filter
def component_status(status: str) -> str:
    return STATUS_WORDS.get(status, status)


@register.filter
def words(value: str) -> str:
    """in_progress → in progress."""
    return str(value).replace("_", " ")


@register.filter
def safe_url(value: str) -> str:
    """Only http(s) and mailto links reach a public page."""
    text = str(value or "").strip()
    return text if text.lower().startswith(("https://", "http://", "mailto:")) else ""


@register.filter
def get_item(mapping, key):
    return mapping.get(key) if mapping else None
