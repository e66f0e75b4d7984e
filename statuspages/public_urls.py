"""Public status page URLs: anonymous by design (DESIGN.md), private pages checked in the views."""

from django.urls import re_path

from statuspages import public

app_name = "statuspages-public"

SLUG = r"(?P<slug>[a-z0-9](?:[a-z0-9-]{0,48}[a-z0-9])?)"
ID = r"(?P<public_id>[a-z0-9]{12})"
TOKEN = r"(?P<token>[A-Za-z0-9_-]{20,64})"  # noqa: S105 - a URL pattern, not a secret

urlpatterns = [
    re_path(rf"^status/{SLUG}/$", public.page, name="page"),
    re_path(rf"^status/{SLUG}/history/$", public.history, name="history"),
    re_path(rf"^status/{SLUG}/incidents/{ID}/$", public.incident, name="incident"),
    re_path(rf"^status/{SLUG}/maintenance/{ID}/$", public.maintenance, name="maintenance"),
    re_path(rf"^status/{SLUG}/access/$", public.access, name="access"),
    re_path(rf"^status/{SLUG}/logo/{TOKEN}$", public.logo, name="logo"),
    re_path(rf"^status/{SLUG}/subscribe/$", public.subscribe, name="subscribe"),
    re_path(rf"^status/{SLUG}/subscribe/confirm/{TOKEN}/$", public.confirm, name="confirm"),
    re_path(rf"^status/{SLUG}/unsubscribe/{TOKEN}/$", public.unsubscribe, name="unsubscribe"),
    re_path(rf"^status/{SLUG}/feed\.atom$", public.feed, {"kind": "atom"}, name="feed-atom"),
    re_path(rf"^status/{SLUG}/feed\.rss$", public.feed, {"kind": "rss"}, name="feed-rss"),
    re_path(rf"^status/{SLUG}/api/v2/(?P<resource>[a-z/.-]{{1,60}})$", public.api, name="api"),
    re_path(rf"^badge/{SLUG}\.svg$", public.badge, name="badge"),
    re_path(rf"^badge/{SLUG}/(?P<component>[a-z0-9]{{12}})\.svg$", public.badge, name="component-badge"),
]
