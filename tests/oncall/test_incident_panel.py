"""The paging panel of the incident page: its escalation and pages, Escalate now and Reassign."""

from __future__ import annotations

import pytest
from django.urls import reverse

from incidents.oncall import escalation
from incidents.oncall.models import Escalation, Page
from tests.factories import make_incident, make_team, make_user
from tests.oncall.escalation_helpers import make_policy

pytestmark = pytest.mark.django_db


@pytest.fixture
def paged(responder):
    ann = make_user("responder", username="ann", first_name="<b>Ann</b>", email="ann@example.com")
    team = make_team("Payments", services=["checkout"])
    make_policy(
        team, [(10, [ann], [], []), (10, [responder], [], [])], name="Checkout <primary>", services=["checkout"]
    )
    incident = make_incident(service="checkout")
    escalation.run_due()
    return incident, ann


def test_the_incident_page_shows_its_escalation_and_pages_escaped(client, responder, paged):
    incident, _ = paged
    client.force_login(responder)
    html = client.get(reverse("incidents:detail", args=[incident.pk])).content.decode()
    assert "Checkout &lt;primary&gt;" in html and "at step 1 of 2" in html
    assert "&lt;b&gt;Ann&lt;/b&gt;" in html and "<b>Ann</b>" not in html
    assert "Account email: sending" in html
    assert "Step 1 of 2: paged &lt;b&gt;Ann&lt;/b&gt;." in html  # the timeline shows on-call's notes
    assert "Escalate now" in html and 'name="target"' in html


def test_viewers_see_the_panel_without_actions(client, viewer, paged):
    incident, _ = paged
    client.force_login(viewer)
    html = client.get(reverse("incidents:detail", args=[incident.pk])).content.decode()
    assert "Paging" in html and "Escalate now" not in html
    response = client.post(reverse("oncall:incident-escalate", args=[incident.pk]))
    assert response.status_code == 403


def test_escalate_now_runs_the_next_step_on_the_next_run(client, responder, paged):
    incident, _ = paged
    client.force_login(responder)
    response = client.post(reverse("oncall:incident-escalate", args=[incident.pk]))
    assert response.status_code == 302 and response["Location"].endswith("#paging")
    escalation.run_due()
    assert sorted(Page.objects.values_list("step_index", flat=True)) == [0, 1]


def test_reassign_to_a_person_pages_them(client, responder, paged):
    incident, _ = paged
    carol = make_user("responder", username="carol", email="carol@example.com")
    client.force_login(responder)
    response = client.post(
        reverse("oncall:incident-reassign", args=[incident.pk]), {"target": f"user:{carol.pk}"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200 and response["HX-Redirect"].endswith("#paging")
    assert Escalation.objects.get(incident=incident, state="active").name == "Reassigned to carol"


def test_reassign_refuses_an_unknown_target_with_a_message(client, responder, paged):
    incident, _ = paged
    client.force_login(responder)
    response = client.post(
        reverse("oncall:incident-reassign", args=[incident.pk]), {"target": "user:99999"}, follow=True
    )
    assert "Choose an active person or a policy" in response.content.decode()
    assert Escalation.objects.get(incident=incident, state="active").name == "Checkout <primary>"


def test_an_unmapped_service_says_so(client, responder):
    incident = make_incident(service="nowhere")
    client.force_login(responder)
    html = client.get(reverse("incidents:detail", args=[incident.pk])).content.decode()
    assert "No escalation policy pages for service “nowhere”" in html
