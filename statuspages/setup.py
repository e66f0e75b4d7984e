"""Status page set-up writes: pages, groups, components, maintenance windows, incident links and
public updates.

One function per write, called by the API, the dashboard and the admin alike: each does the write,
the recomputation (statuspages.services) and the new page version, and forgets renamed or deleted
slugs after the commit (never on a rollback), so no front door has to remember to.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.text import slugify

from statuspages import logos, public_cache
from statuspages.models import Component, ComponentGroup, Maintenance, PageIncident, PublicUpdate, StatusPage
from statuspages.services import advance_maintenances, finish_maintenance, refresh_components, sync_maintenance, touch

# Slugs the dashboard's own addresses take (/status-pages/new/).
RESERVED_SLUGS = frozenset({"new"})


def _forget_slugs(slugs: Iterable[str]) -> None:
    """After the commit: these slugs no longer name a page (renamed or deleted); the public side forgets them."""
    slugs = sorted(set(slugs))

    def forget() -> None:
        for slug in slugs:
            public_cache.forget_slug(slug)

    if slugs:
        transaction.on_commit(forget, robust=True)


def _shown(page_ids: Iterable[int], *, component_ids: Iterable[int] = (), now: datetime | None = None) -> None:
    """After a setup write: maintenance and component statuses recomputed, new page versions."""
    sync_maintenance(now=now)
    refresh_components(component_ids, now=now)
    touch(page_ids, now=now)


def suggest_slug(title: str, *, exclude_pk: int | None = None) -> str:
    """A free slug made from ``title``: "Acme Cloud!" → "acme-cloud", then "acme-cloud-2"… if taken."""
    base = slugify(title)[:44].strip("-") or "status"
    taken = set(StatusPage.objects.exclude(pk=exclude_pk).filter(slug__startswith=base).values_list("slug", flat=True))
    taken |= RESERVED_SLUGS
    slug, n = base, 1
    while slug in taken:
        n += 1
        slug = f"{base}-{n}"
    return slug


def save_page(
    page: StatusPage,
    *,
    password: str | None = None,
    logo: logos.Logo | None = None,
    remove_logo: bool = False,
    now: datetime | None = None,
) -> StatusPage:
    """Create or edit a page (``password``: None keeps it, '' removes it). A new ``logo`` replaces the
    uploaded one, ``remove_logo`` drops it (and the old external logo URL); the file it replaced is
    deleted after the commit, the new one at once if the write fails."""
    new_name = logos.store(logo) if logo is not None else ""
    try:
        with transaction.atomic():
            # Locked: two admins saving at once must not both think the other's logo is theirs to delete.
            old = (
                (
                    StatusPage.objects.select_for_update()
                    .filter(pk=page.pk)
                    .values("slug", "logo", "logo_content_type")
                ).first()
                if page.pk
                else None
            )
            if password is not None:
                page.set_password(password)
            if logo is not None:
                page.logo, page.logo_content_type = new_name, logo.content_type
            elif remove_logo:
                page.logo, page.logo_content_type, page.logo_url = "", "", ""
            elif old:
                # No logo change asked for: keep the stored one, not the one this form was loaded with.
                page.logo, page.logo_content_type = old["logo"], old["logo_content_type"]
            page.updated_at = now or timezone.now()
            page.version = (page.version or 0) + 1
            page.save()
            if old and old["slug"] != page.slug:
                _forget_slugs([old["slug"]])
            if old and old["logo"] and old["logo"] != page.logo.name:
                _delete_logos([old["logo"]])
            touch([page.pk], now=now)
    except BaseException:
        logos.delete(new_name)
        raise
    return page


def _delete_logos(names: Iterable[str]) -> None:
    """After the commit: these stored logos are no page's any more."""
    names = [name for name in names if name]

    def delete() -> None:
        for name in names:
            logos.delete(name)

    if names:
        transaction.on_commit(delete, robust=True)


def delete_pages(pages: Iterable[StatusPage], *, now: datetime | None = None) -> None:
    """Delete pages (and all on them); the monitors their windows silenced alert again."""
    pages = list(pages)
    with transaction.atomic():
        found = StatusPage.objects.filter(pk__in=[page.pk for page in pages])
        stored_logos = list(found.exclude(logo="").values_list("logo", flat=True))
        found.delete()
        _shown((), now=now)
        _forget_slugs(page.slug for page in pages)
        _delete_logos(stored_logos)


def delete_page(page: StatusPage, *, now: datetime | None = None) -> None:
    delete_pages([page], now=now)


def save_group(group: ComponentGroup, *, now: datetime | None = None) -> ComponentGroup:
    with transaction.atomic():
        group.save()
        _shown([group.page_id], now=now)
    return group


def delete_group(group: ComponentGroup, *, now: datetime | None = None) -> None:
    with transaction.atomic():
        page_id = group.page_id
        group.delete()
        _shown([page_id], now=now)


def save_component(component: Component, *, monitors: Iterable | None = None, now: datetime | None = None) -> Component:
    """Create or edit a component (``monitors``: None keeps them); its status follows its monitors at once."""
    with transaction.atomic():
        component.save()
        if monitors is not None:
            component.monitors.set(monitors)
        _shown([component.page_id], component_ids=[component.pk], now=now)
    return component


def add_components_from_monitors(
    page: StatusPage,
    monitors: Iterable,
    *,
    group: ComponentGroup | None = None,
    new_group: str = "",
    now: datetime | None = None,
) -> list[Component]:
    """One component per monitor, named after it and driven by it, after the page's last component, in
    ``group`` or in a new group named ``new_group`` (after the page's last group)."""
    monitors = sorted(monitors, key=lambda monitor: (monitor.name.lower(), monitor.pk))
    with transaction.atomic():
        if new_group:
            last = page.groups.aggregate(last=Max("position"))["last"]
            group = ComponentGroup.objects.create(page=page, name=new_group, position=(last or 0) + 1)
        last = page.components.aggregate(last=Max("position"))["last"] or 0
        components = []
        for position, monitor in enumerate(monitors, start=last + 1):
            component = Component.objects.create(page=page, group=group, name=monitor.name[:100], position=position)
            component.monitors.add(monitor)
            components.append(component)
        _shown([page.pk], component_ids=[component.pk for component in components], now=now)
    return components


def delete_component(component: Component, *, now: datetime | None = None) -> None:
    with transaction.atomic():
        page_id = component.page_id
        component.delete()
        _shown([page_id], now=now)


def save_maintenance(
    window: Maintenance, *, components: Iterable[Component] | None = None, now: datetime | None = None
) -> Maintenance:
    """Schedule or edit a window (``components``: None keeps them). A new window that starts now goes in
    progress at once."""
    with transaction.atomic():
        created = window.pk is None
        window.save()
        if components is not None:
            window.components.set(components)
        _shown(
            [window.page_id], component_ids=[] if created else window.components.values_list("pk", flat=True), now=now
        )
    if created:
        advance_maintenances(now=now)
    return window


def delete_maintenance(window: Maintenance, *, by=None, now: datetime | None = None) -> None:
    """Delete a window; an active one completes first (its subscribers hear it ended)."""
    with transaction.atomic():
        finish_maintenance(window, by=by, now=now)
        page_id = window.page_id
        window.delete()
        _shown([page_id], now=now)


def save_page_incident(
    link: PageIncident, *, components: Iterable[Component] | None = None, now: datetime | None = None
) -> PageIncident:
    """Edit an incident link as it is (the admin); ``publish_incident`` is the operators' way."""
    with transaction.atomic():
        link.save()
        if components is not None:
            link.components.set(components)
        _shown([link.page_id], now=now)
    return link


def delete_page_incident(link: PageIncident, *, now: datetime | None = None) -> None:
    """Unpublish an incident from a page, with its public updates."""
    with transaction.atomic():
        page_id = link.page_id
        link.delete()
        _shown([page_id], now=now)


def _page_id_of_update(update: PublicUpdate) -> int:
    return update.page_incident.page_id if update.page_incident_id else update.maintenance.page_id


def save_public_update(update: PublicUpdate, *, now: datetime | None = None) -> PublicUpdate:
    """Edit a public update as it is (the admin); ``post_update`` is the operators' way."""
    with transaction.atomic():
        update.save()
        _shown([_page_id_of_update(update)], now=now)
    return update


def delete_public_update(update: PublicUpdate, *, now: datetime | None = None) -> None:
    with transaction.atomic():
        page_id = _page_id_of_update(update)
        update.delete()
        _shown([page_id], now=now)
