"""What the status pages could say about an incident (issue 17): a draft publication per page the
incident touches, and a draft update wherever the public timeline lags behind the incident.

Drafts are computed from the incident and the pages each time they are shown, never stored, and
nothing reaches a page until a person posts a draft: publishing and posting go through
``services.publish_incident`` and ``services.post_update`` like any other publication, so the public
page, its feeds and its subscribers behave the same.

A page is proposed when one of its components is driven by a monitor of the incident (the monitor
opened or joined it, or its DOWN linked the incident unpublished to the page), or by a monitor that
reports for the incident's service, or is named after that service. Those components come
pre-selected; the impact follows the severity and the first update names the components.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from incidents.models import Incident, Status
from monitors import services as monitor_services
from statuspages import services
from statuspages.models import (
    IMPACT_OF_SEVERITY,
    Component,
    Impact,
    PageIncident,
    PublicStatus,
    PublicUpdate,
    StatusPage,
)

# The impacts an incident may have (maintenance belongs to maintenance windows).
INCIDENT_IMPACTS = [(value, label) for value, label in Impact.choices if value != Impact.MAINTENANCE]


class DraftError(services.StatusPageError):
    pass


class DraftStale(DraftError):
    """The incident or the page changed since the draft was shown: review the new one."""


@dataclass
class Match:
    """Why a component is proposed: the reasons, strongest first."""

    component: Component
    reasons: list[str] = field(default_factory=list)


@dataclass
class PublishDraft:
    """Show the incident on ``page``: pre-filled, a person reviews it and publishes."""

    incident: Incident
    page: StatusPage
    components: list[Component]  # every component of the page, in its order (the choices)
    selected: list[Component]  # the pre-selected ones
    reasons: dict[int, list[str]]  # component pk → why it is pre-selected
    name: str
    impact: str
    status: str  # the public status the first update is written for
    body: str
    link: PageIncident | None  # the unpublished link a monitor made, if any

    @property
    def signature(self) -> tuple:
        return ("publish", self.page.pk, tuple(c.pk for c in self.selected), self.impact, self.status, self.name)


@dataclass
class UpdateDraft:
    """Bring a published incident's public timeline to the incident's status."""

    link: PageIncident
    status: str
    previous: str  # the status of the newest public update ('' when there is none)
    components: list[Component]
    body: str

    @property
    def signature(self) -> tuple:
        return ("update", self.link.pk, self.status, self.previous)


# --- matching ---------------------------------------------------------------------------------------

_NOT_SERVICE = re.compile(r"[^a-z0-9._-]+")


def _as_service(name: str) -> str:
    return _NOT_SERVICE.sub("-", name.lower()).strip("-._")[:100]


def affected_components(incident: Incident) -> dict[int, list[Match]]:
    """The components the incident touches, by page pk (each page's in its order)."""
    matches: dict[int, Match] = {}

    def add(component: Component, reason: str) -> None:
        match = matches.setdefault(component.pk, Match(component))
        if reason not in match.reasons:
            match.reasons.append(reason)

    linked = Component.objects.filter(page_incidents__incident=incident).distinct()
    for component in linked:
        add(component, "already linked to this incident")
    for component in Component.objects.filter(monitors__incident_links__incident=incident).distinct():
        add(component, "driven by a monitor of this incident")
    service = incident.service
    candidates = (
        Component.objects.filter(Q(monitors__service=service) | Q(monitors__service=""))
        .prefetch_related("monitors")
        .distinct()
    )
    for component in candidates:
        if any(monitor_services.service_name(monitor) == service for monitor in component.monitors.all()):
            add(component, f"driven by a monitor of the service “{service}”")
    first_word = re.split(r"[._-]", service, maxsplit=1)[0]  # narrows the rows compared in Python
    for component in Component.objects.filter(name__icontains=first_word):
        if _as_service(component.name) == service:
            add(component, f"named after the service “{service}”")
    by_page: dict[int, list[Match]] = {}
    for match in sorted(matches.values(), key=lambda m: (m.component.position, m.component.pk)):
        by_page.setdefault(match.component.page_id, []).append(match)
    return by_page


# --- texts ----------------------------------------------------------------------------------------

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]#])")


def _md(text: str) -> str:
    """A name as literal Markdown text (a component called “C*” stays “C*” on the public page)."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text).replace("<", "&lt;")


def names(components: Sequence[Component]) -> str:
    """ "A", "A and B", "A, B and C"."""
    words = [_md(c.name) for c in components]
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} and {words[-1]}"


def suggested_text(status: str, components: Sequence[Component], *, impact: str = "", again: bool = False) -> str:
    """A first draft of a public update for ``status`` naming the components; the person edits it."""
    listed = names(components)
    plural = len(components) > 1
    if status == PublicStatus.INVESTIGATING:
        if again:
            subject = f"the problems with {listed}" if listed else "the problems"
            return (
                f"We are seeing {subject} again and are investigating. We will post an update as soon as we know more."
            )
        if not listed:
            what = "an outage" if impact == Impact.CRITICAL else "a problem"
            return (
                f"We are investigating {what} affecting our services. We will post an update as soon as we know more."
            )
        what = f"an outage of {listed}" if impact == Impact.CRITICAL else f"problems with {listed}"
        return f"We are investigating {what}. We will post an update as soon as we know more."
    if status == PublicStatus.IDENTIFIED:
        subject = f"the problems with {listed}" if listed else "the problem"
        return f"We have identified the cause of {subject} and are working on a fix."
    if status == PublicStatus.MONITORING:
        subject = f" for {listed}" if listed else ""
        return f"A fix has been applied{subject} and we are monitoring the results."
    if status == PublicStatus.RESOLVED:
        if not listed:
            return "This incident has been resolved: everything is operating normally again."
        verb = "are" if plural else "is"
        return f"This incident has been resolved: {listed} {verb} operating normally again."
    raise ValueError(f"no suggested text for status {status!r}")


# --- proposals ------------------------------------------------------------------------------------


def default_impact(incident: Incident) -> str:
    """DESIGN.md: SEV1 critical, SEV2 major, SEV3 minor, SEV4 none."""
    return IMPACT_OF_SEVERITY.get(incident.severity, Impact.NONE)


def _newest_update(link: PageIncident) -> PublicUpdate | None:
    return link.updates.order_by("-display_at", "-id").first()


def propose_publications(incident: Incident) -> list[PublishDraft]:
    """A draft per page the incident touches and is not published on yet; none once it is resolved."""
    if incident.deleted_at is not None or incident.status == Status.RESOLVED:
        return []
    by_page = affected_components(incident)
    if not by_page:
        return []
    links = {link.page_id: link for link in PageIncident.objects.filter(incident=incident, page_id__in=by_page)}
    for link in links.values():
        link.incident = incident  # its impact and name follow this incident
    status = services.public_status(incident)
    drafts = []
    for page in StatusPage.objects.filter(pk__in=by_page).order_by("title", "pk"):
        link = links.get(page.pk)
        if link is not None and link.published_at is not None:
            continue
        selected = [match.component for match in by_page[page.pk]]
        impact = link.impact if link is not None else default_impact(incident)
        drafts.append(
            PublishDraft(
                incident=incident,
                page=page,
                components=list(Component.objects.filter(page=page).order_by("position", "pk")),
                selected=selected,
                reasons={match.component.pk: match.reasons for match in by_page[page.pk]},
                name=link.public_name if link is not None else incident.title,
                impact=impact,
                status=status,
                body=suggested_text(status, selected, impact=impact),
                link=link,
            )
        )
    return drafts


def _update_draft(incident: Incident, link: PageIncident) -> UpdateDraft | None:
    newest = _newest_update(link)
    previous = newest.status if newest else ""
    target = services.public_status(incident)
    if previous == target or (previous == PublicStatus.POSTMORTEM and target == PublicStatus.RESOLVED):
        return None
    components = list(link.components.order_by("position", "pk"))
    again = target == PublicStatus.INVESTIGATING and bool(previous)
    return UpdateDraft(
        link=link,
        status=target,
        previous=previous,
        components=components,
        body=suggested_text(target, components, impact=link.impact, again=again),
    )


def propose_updates(incident: Incident) -> list[UpdateDraft]:
    """Where the incident is published and its newest public update says something else than the
    incident's status now (e.g. it resolved, the page still says "identified"): a draft update."""
    if incident.deleted_at is not None:
        return []
    links = PageIncident.objects.filter(incident=incident, published_at__isnull=False).select_related("page")
    drafts = []
    for link in links.order_by("page__title", "pk"):
        link.incident = incident
        draft = _update_draft(incident, link)
        if draft is not None:
            drafts.append(draft)
    return drafts


def state_key(incident: Incident, publications: Iterable[PublishDraft], updates: Iterable[UpdateDraft]) -> str:
    """Changes whenever the panel would show something else: the incident page refreshes it then only."""
    links = (
        PageIncident.objects.filter(incident=incident).order_by("pk").values_list("pk", "published_at", "updated_at")
    )
    parts = (
        incident.status,
        incident.severity,
        incident.title,
        incident.deleted_at,
        tuple(links),
        PublicUpdate.objects.filter(page_incident__incident=incident).count(),
        tuple(d.signature for d in publications),
        tuple(d.signature for d in updates),
    )
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


# --- acting on a draft ------------------------------------------------------------------------------


def publish_draft(
    incident: Incident,
    page: StatusPage,
    *,
    name: str,
    components: Iterable[Component],
    impact: str,
    body: str,
    status: str,
    by,
    now: datetime | None = None,
) -> PageIncident:
    """Publish the reviewed draft on ``page``. ``status`` is the public status the person read the draft
    for: if the incident moved on meanwhile, or someone else published it first, nothing is published."""
    now = now or timezone.now()
    components = list(components)
    if impact not in dict(INCIDENT_IMPACTS):
        raise DraftError(f"Unknown impact {impact!r}.", details={"impact": [v for v, _ in INCIDENT_IMPACTS]})
    with transaction.atomic():
        incident = Incident.objects.select_for_update().get(pk=incident.pk)
        if incident.deleted_at is not None:
            raise DraftStale("This incident was deleted.")
        if services.public_status(incident) != status:
            raise DraftStale(
                f"The incident is now {incident.get_status_display().lower()}: review the new draft before publishing."
            )
        link, _ = PageIncident.objects.get_or_create(page=page, incident=incident, defaults={"created_at": now})
        link = PageIncident.objects.select_for_update().get(pk=link.pk)
        if link.published_at is not None:
            raise DraftStale(f"Already published on “{page.title}”.")
        if not components:
            link.components.clear()  # the person unticked what a monitor had linked
        # Only what differs from the incident is stored, so the page keeps following its title and severity.
        kept_name = name if name != incident.title or link.name else ""
        kept_impact = impact if impact != default_impact(incident) or link.impact_override else ""
        return services.publish_incident(
            page, incident, components=components, body=body, name=kept_name, impact=kept_impact, by=by, now=now
        )


def post_draft_update(link: PageIncident, *, status: str, body: str, by, now: datetime | None = None) -> PublicUpdate:
    """Post the reviewed draft update, unless the incident moved on or someone posted it meanwhile."""
    now = now or timezone.now()
    with transaction.atomic():
        link = PageIncident.objects.select_for_update().select_related("incident", "page").get(pk=link.pk)
        if link.published_at is None:
            raise DraftStale(f"Not published on “{link.page.title}”: publish it first.")
        if link.incident.deleted_at is not None:
            raise DraftStale("This incident was deleted.")
        draft = _update_draft(link.incident, link)
        if draft is None:
            raise DraftStale(
                f"“{link.page.title}” already says the incident is {link.incident.get_status_display().lower()}."
            )
        if draft.status != status:
            raise DraftStale(f"The incident is now {link.incident.get_status_display().lower()}: review the new draft.")
        return services.post_update(link, body=body, status=status, by=by, now=now)
