from datetime import datetime, timedelta

from django import template
from django.utils import timezone

register = template.Library()


@register.filter
def duration(value) -> str:
    """A timedelta (or seconds) as '2 d 3 h', '4 h 12 min', '35 min' or '12 s'."""
    if value is None or value == "":
        return "—"
    seconds = int(value.total_seconds() if isinstance(value, timedelta) else float(value))
    if seconds < 60:
        return f"{seconds} s"
    minutes, _ = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{minutes} min"


@register.filter
def since(moment: datetime | None, until: datetime | None = None):
    """The time from ``moment`` until ``until`` (default now), for ``|duration``."""
    if moment is None:
        return None
    return (until or timezone.now()) - moment


@register.inclusion_tag("_sparkline.html")
def sparkline(counts, label: str = "events per hour, last 24 hours", width: int = 96, height: int = 20) -> dict:
    """An inline SVG line of ``counts`` (oldest first) scaled to its own maximum."""
    values = [int(value) for value in counts or [] if isinstance(value, int | float)]
    if len(values) < 2:
        values = [0, *values] if values else [0, 0]
    top = max(values) or 1
    step = width / (len(values) - 1)
    points = " ".join(
        f"{index * step:.1f},{height - 1 - (value / top) * (height - 2):.1f}" for index, value in enumerate(values)
    )
    total = sum(values)
    return {
        "points": points,
        "width": width,
        "height": height,
        "label": f"{label}: {total} in all, at most {max(values)} in one",
    }
