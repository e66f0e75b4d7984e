"""The drafts of what status pages could say about an incident (statuspages.drafts): which pages are
proposed, what is pre-selected, the impact, the suggested texts, the proposals that follow the incident's
status, and publishing/posting a draft through the ordinary services."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from incidents import services as incident_services
from incidents.models import Incident, Status
from monitors.probes import CheckResult
from monitors.scheduler import record_result
from statuspages import drafts, services, snapshot
from statuspages.models import Component, Impact, PageIncident, PublicStatus, PublicUpdate
from tests.factories import make_incident, make_monitor, make_page

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DOWN = CheckResult("down", None, "HTTP 503 (expected 200-399)")


@pytest.fixture
def shop(db):
    """A page with Checkout API (driven by the checkout monitor), Payments and Website."""
    page = make_page(slug="shop", title="Shop")
    monitor = make_monitor("checkout health", service="checkout-api", open_incident=True, incident_severity="SEV2")
    checkout = Component.objects.create(page=page, name="Checkout API", position=1)
    checkout.monitors.add(monitor)
    payments = Component.objects.create(page=page, name="Payments", position=2)
    website = Component.objects.create(page=page, name="Website", position=3)
    website.monitors.add(make_monitor("website", url="https://shop.example/"))
    return {"page": page, "monitor": monitor, "checkout": checkout, "payments": payments, "website": website}


def goes_down(monitor, *, at=T0) -> Incident:
    record_result(monitor.pk, DOWN, now=at)
    return Incident.objects.get(monitor_links__monitor=monitor)


def test_a_monitor_that_opens_an_incident_gets_a_draft_with_its_component_preselected(shop):
    incident = goes_down(shop["monitor"])
    [draft] = drafts.propose_publications(incident)
    assert draft.page == shop["page"]
    assert draft.selected == [shop["checkout"]]
    assert draft.components == [shop["checkout"], shop["payments"], shop["website"]]
    assert draft.impact == Impact.MAJOR  # SEV2
    assert draft.name == "checkout health is down"
    assert draft.status == PublicStatus.INVESTIGATING
    assert draft.body.startswith("We are investigating problems with Checkout API.")
    assert draft.link is not None and draft.link.published_at is None  # the monitor linked it, unpublished


def test_nothing_reaches_the_public_page_until_a_person_publishes(shop, client):
    incident = goes_down(shop["monitor"])
    assert drafts.propose_publications(incident)
    assert snapshot.published_incidents(shop["page"]).count() == 0
    assert "checkout health is down" not in client.get("/status/shop/").content.decode()
    assert PublicUpdate.objects.count() == 0


@pytest.mark.parametrize(
    ("severity", "impact", "opening"),
    [
        ("SEV1", Impact.CRITICAL, "We are investigating an outage of Checkout API."),
        ("SEV2", Impact.MAJOR, "We are investigating problems with Checkout API."),
        ("SEV3", Impact.MINOR, "We are investigating problems with Checkout API."),
        ("SEV4", Impact.NONE, "We are investigating problems with Checkout API."),
    ],
)
def test_the_impact_follows_the_severity(shop, severity, impact, opening):
    shop["monitor"].incident_severity = severity
    shop["monitor"].save()
    [draft] = drafts.propose_publications(goes_down(shop["monitor"]))
    assert draft.impact == impact
    assert draft.body.startswith(opening)


def test_an_incident_of_the_service_proposes_the_components_its_monitors_drive(shop):
    # Opened by hand (or by an error alert), not by the monitor: matched through the monitor's service.
    incident = make_incident(title="Payments failing at checkout", service="checkout-api", severity="SEV1")
    [draft] = drafts.propose_publications(incident)
    assert draft.selected == [shop["checkout"]]
    assert draft.reasons[shop["checkout"].pk] == [
        "driven by a monitor of the service “checkout-api”",
        "named after the service “checkout-api”",
    ]
    assert draft.link is None and draft.impact == Impact.CRITICAL


def test_a_monitor_without_a_service_reports_for_its_name(shop):
    incident = make_incident(title="Site slow", service="website", severity="SEV3")
    [draft] = drafts.propose_publications(incident)
    assert shop["website"] in draft.selected


def test_a_component_named_after_the_service_is_proposed(shop):
    incident = make_incident(title="Card payments declined", service="payments", severity="SEV3")
    [draft] = drafts.propose_publications(incident)
    assert draft.selected == [shop["payments"]]
    assert draft.body == "We are investigating problems with Payments. We will post an update as soon as we know more."


def test_an_unrelated_incident_proposes_nothing(shop):
    assert drafts.propose_publications(make_incident(title="Disk", service="batch-jobs", severity="SEV1")) == []


def test_a_page_per_draft_and_none_once_published(shop):
    other = make_page(slug="partners", title="Partners")
    api = Component.objects.create(page=other, name="Partner API")
    api.monitors.add(shop["monitor"])
    incident = goes_down(shop["monitor"])
    proposed = drafts.propose_publications(incident)
    assert [d.page.slug for d in proposed] == ["partners", "shop"]
    assert [d.selected for d in proposed] == [[api], [shop["checkout"]]]
    services.publish_incident(other, incident, components=[api], body="Looking.")
    assert [d.page.slug for d in drafts.propose_publications(incident)] == ["shop"]


def test_several_components_are_named_in_the_text(db):
    page = make_page()
    parts = [Component.objects.create(page=page, name=n) for n in ("A", "B*", "C")]
    text = drafts.suggested_text(PublicStatus.RESOLVED, parts)
    assert text == r"This incident has been resolved: A, B\* and C are operating normally again."


def test_a_resolved_or_deleted_incident_proposes_no_publication(shop, responder):
    incident = goes_down(shop["monitor"])
    incident_services.transition_incident(incident.pk, to=Status.RESOLVED, by=responder)
    incident.refresh_from_db()
    assert drafts.propose_publications(incident) == []
    incident.deleted_at = T0
    assert drafts.propose_publications(incident) == []


def test_publishing_a_draft_uses_the_publication_service(shop, responder, django_capture_on_commit_callbacks):
    incident = goes_down(shop["monitor"])
    [draft] = drafts.propose_publications(incident)
    with django_capture_on_commit_callbacks(execute=True):
        link = drafts.publish_draft(
            incident,
            shop["page"],
            name=draft.name,
            components=[shop["checkout"], shop["payments"]],
            impact=draft.impact,
            body=draft.body,
            status=draft.status,
            by=responder,
        )
    link.refresh_from_db()
    assert link.published_at is not None
    assert set(link.components.all()) == {shop["checkout"], shop["payments"]}
    # Same as the severity and the title: nothing frozen, the page keeps following the incident.
    assert link.name == "" and link.impact_override == ""
    [update] = link.updates.all()
    assert update.status == PublicStatus.INVESTIGATING and update.author == responder
    assert [c["name"] for c in update.affected_components] == ["Checkout API", "Payments"]
    assert [link] == list(snapshot.published_incidents(shop["page"]))
    assert drafts.propose_publications(incident) == []
    assert drafts.propose_updates(incident) == []


def test_an_edited_name_and_impact_are_kept(shop, responder):
    incident = goes_down(shop["monitor"])
    link = drafts.publish_draft(
        incident,
        shop["page"],
        name="Checkout is slow",
        components=[],
        impact=Impact.MINOR,
        body="Slow checkouts.",
        status=PublicStatus.INVESTIGATING,
        by=responder,
    )
    assert link.public_name == "Checkout is slow" and link.impact == Impact.MINOR
    assert list(link.components.all()) == []  # unticked: the monitor's link is dropped too


def test_a_stale_draft_is_not_published(shop, responder):
    incident = goes_down(shop["monitor"])
    [draft] = drafts.propose_publications(incident)
    incident_services.transition_incident(incident.pk, to=Status.ACKNOWLEDGED, by=responder)
    with pytest.raises(drafts.DraftStale, match="acknowledged"):
        drafts.publish_draft(
            incident, shop["page"], name=draft.name, components=draft.selected, impact=draft.impact,
            body=draft.body, status=draft.status, by=responder,
        )  # fmt: skip
    assert PageIncident.objects.get().published_at is None
    # The fresh draft is written for the new status.
    incident.refresh_from_db()
    [fresh] = drafts.propose_publications(incident)
    assert fresh.status == PublicStatus.IDENTIFIED
    assert fresh.body == "We have identified the cause of the problems with Checkout API and are working on a fix."


def test_a_draft_is_published_once(shop, responder):
    incident = goes_down(shop["monitor"])
    [draft] = drafts.propose_publications(incident)
    fields = {"name": draft.name, "components": draft.selected, "impact": draft.impact, "body": draft.body}
    drafts.publish_draft(incident, shop["page"], status=draft.status, by=responder, **fields)
    with pytest.raises(drafts.DraftStale, match="Already published"):
        drafts.publish_draft(incident, shop["page"], status=draft.status, by=responder, **fields)
    assert PublicUpdate.objects.count() == 1


def test_an_unknown_impact_is_refused(shop, responder):
    incident = goes_down(shop["monitor"])
    with pytest.raises(drafts.DraftError):
        drafts.publish_draft(
            incident, shop["page"], name="x", components=[], impact="maintenance", body="x",
            status=PublicStatus.INVESTIGATING, by=responder,
        )  # fmt: skip


# --- updates that follow the incident ---------------------------------------------------------------


@pytest.fixture
def published(shop, responder):
    incident = goes_down(shop["monitor"])
    link = services.publish_incident(
        shop["page"], incident, components=[shop["checkout"]], body="Looking into it.", now=T0
    )
    return incident, link


@pytest.mark.parametrize(
    ("status", "public", "text"),
    [
        (
            Status.ACKNOWLEDGED,
            PublicStatus.IDENTIFIED,
            "We have identified the cause of the problems with Checkout API and are working on a fix.",
        ),
        (
            Status.MITIGATED,
            PublicStatus.MONITORING,
            "A fix has been applied for Checkout API and we are monitoring the results.",
        ),
        (
            Status.RESOLVED,
            PublicStatus.RESOLVED,
            "This incident has been resolved: Checkout API is operating normally again.",
        ),
    ],
)
def test_an_update_is_proposed_when_the_incident_moves_on(published, responder, status, public, text):
    incident, link = published
    assert drafts.propose_updates(incident) == []  # the page says "investigating", as the incident
    incident = incident_services.transition_incident(incident.pk, to=status, by=responder)
    [draft] = drafts.propose_updates(incident)
    assert (draft.link, draft.status, draft.previous, draft.body) == (link, public, PublicStatus.INVESTIGATING, text)
    assert link.updates.count() == 1  # proposed only: nothing posted


def test_posting_the_resolved_draft_uses_the_update_service(published, responder, django_capture_on_commit_callbacks):
    incident, link = published
    incident = incident_services.transition_incident(incident.pk, to=Status.RESOLVED, by=responder)
    [draft] = drafts.propose_updates(incident)
    with django_capture_on_commit_callbacks(execute=True):
        update = drafts.post_draft_update(link, status=draft.status, body="All good again.", by=responder)
    assert (update.status, update.body, update.author) == ("resolved", "All good again.", responder)
    assert drafts.propose_updates(incident) == []
    with pytest.raises(drafts.DraftStale, match="already says"):
        drafts.post_draft_update(link, status=draft.status, body="Again.", by=responder)
    assert link.updates.count() == 2


def test_a_stale_update_draft_is_not_posted(published, responder):
    incident, link = published
    incident_services.transition_incident(incident.pk, to=Status.ACKNOWLEDGED, by=responder)
    incident_services.transition_incident(incident.pk, to=Status.RESOLVED, by=responder)
    with pytest.raises(drafts.DraftStale, match="resolved"):
        drafts.post_draft_update(link, status=PublicStatus.IDENTIFIED, body="Found it.", by=responder)
    assert link.updates.count() == 1
    assert Incident.objects.get(pk=incident.pk).status == Status.RESOLVED


def test_a_postmortem_after_resolving_needs_no_resolved_update(published, responder):
    incident, link = published
    incident = incident_services.transition_incident(incident.pk, to=Status.RESOLVED, by=responder)
    services.post_update(link, body="What happened.", status=PublicStatus.POSTMORTEM, now=T0 + timedelta(hours=1))
    assert drafts.propose_updates(incident) == []


def test_a_reopened_incident_proposes_investigating_again(published, responder):
    incident, link = published
    incident = incident_services.transition_incident(incident.pk, to=Status.RESOLVED, by=responder)
    [resolved] = drafts.propose_updates(incident)
    drafts.post_draft_update(link, status=resolved.status, body=resolved.body, by=responder)
    incident = incident_services.reopen_incident(incident.pk, by=responder, reason="back again")
    [again] = drafts.propose_updates(incident)
    assert again.status == PublicStatus.INVESTIGATING and again.previous == PublicStatus.RESOLVED
    assert again.body.startswith("We are seeing the problems with Checkout API again")


def test_the_state_key_changes_with_what_the_panel_shows(published, responder):
    incident, _link = published
    before = drafts.state_key(incident, [], drafts.propose_updates(incident))
    assert before == drafts.state_key(incident, [], drafts.propose_updates(incident))
    incident = incident_services.transition_incident(incident.pk, to=Status.RESOLVED, by=responder)
    assert drafts.state_key(incident, [], drafts.propose_updates(incident)) != before
