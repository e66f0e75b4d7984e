from django.urls import reverse

from tracepoint.accounts.roles import ADMIN, has_role

NAV = [
    ("Overview", "overview"),
    ("Incidents", "incidents:index"),
    ("Alerts", "alerts:list"),
    ("Issues", "events:index"),
    ("Monitors", "monitors:index"),
    ("Status pages", "statuspages:index"),
    ("Channels", "channels:index"),
    ("On-call", "oncall:index"),
    ("My on-call", "oncall:me"),
]
# Items whose address is a prefix of another item's: active only outside the longer one.
_NOT_UNDER = {"oncall:index": "oncall:me"}


def navigation(request) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": [], "is_admin": False}
    items = []
    for label, name in NAV:
        url = reverse(name)
        active = request.path == url if url == "/" else request.path.startswith(url)
        if active and name in _NOT_UNDER and request.path.startswith(reverse(_NOT_UNDER[name])):
            active = False
        items.append({"label": label, "url": url, "active": active})
    is_admin = has_role(user, ADMIN)
    if is_admin:
        users = reverse("accounts:users")
        items.append({"label": "Users", "url": users, "active": request.path.startswith(users)})
        items.append({"label": "Admin", "url": reverse("admin:index"), "active": False})
    return {"nav_items": items, "is_admin": is_admin}
