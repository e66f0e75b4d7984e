"""The escalation policy pages: everyone with a role reads them; admins create, edit and delete."""

from __future__ import annotations

from datetime import date

import pytest
from django.test import Client

from incidents.oncall import policies
from incidents.oncall.models import EscalationPolicy, Team
from incidents.oncall.policies import StepSpec
from tests.factories import make_layer, make_schedule, make_team, make_user
from tests.notifications.factories import make_email_channel

pytestmark = pytest.mark.django_db

LIST = "/oncall/policies/"
NEW = "/oncall/policies/new/"


def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def viewer_browser(viewer):
    return browser(viewer)


@pytest.fixture
def admin_browser(admin_user):
    return browser(admin_user)


@pytest.fixture
def world():
    team = make_team("Payments", services=["checkout", "billing", "refunds"])
    ann = make_user(username="ann", first_name="Ann")
    bob = make_user(username="bob", first_name="Bob")
    primary = make_schedule(team, name="Primary")
    make_layer(primary, [ann], start_date=date(2020, 1, 6))
    ops = make_email_channel(name="#ops")
    policy = policies.create_policy(
        team=team,
        name="Payments primary",
        services=["checkout"],
        repeat=1,
        steps=[
            StepSpec(delay_minutes=5, schedules=[primary]),
            StepSpec(delay_minutes=10, users=[ann, bob]),
            StepSpec(delay_minutes=30, channels=[ops]),
        ],
        default=True,
    )
    return {"team": team, "ann": ann, "bob": bob, "primary": primary, "ops": ops, "policy": policy}


def form_data(world, **overrides) -> dict:
    """A create/edit POST: two steps (the schedule, then Bob)."""
    data = {
        "name": "Checkout nights",
        "team": world["team"].pk,
        "description": "",
        "services": "refunds",
        "repeat": "0",
        "steps-TOTAL_FORMS": "2",
        "steps-INITIAL_FORMS": "0",
        "steps-MIN_NUM_FORMS": "1",
        "steps-MAX_NUM_FORMS": "20",
        "steps-0-schedules": [world["primary"].pk],
        "steps-0-delay_minutes": "5",
        "steps-1-users": [world["bob"].pk],
        "steps-1-delay_minutes": "15",
    }
    return data | overrides


def step_rows(policy: EscalationPolicy) -> list[tuple]:
    return [
        (
            step.delay_minutes,
            [s.name for s in step.schedules.all()],
            [u.username for u in step.users.all()],
            [c.name for c in step.channels.all()],
        )
        for step in policy.steps.all()
    ]


# --- reading -------------------------------------------------------------------------------------


def test_the_list_shows_policies_by_team_with_default_services_and_steps(viewer_browser, world):
    make_team("Web")  # no policy at all
    response = viewer_browser.get(LIST)
    assert response.status_code == 200
    html = response.content.decode()
    row = html.split('class="policy-row"')[1].split("</tr>")[0]
    assert "Payments primary" in row and "Team default" in row and "checkout" in row
    assert "1. Primary schedule → 5 min → 2. Ann, Bob → 10 min → 3. #ops channel" in row
    assert "No policy yet: incidents of Web" in html
    assert "Add a policy" not in html  # viewers do not write


def test_the_list_filters_by_team_and_answers_htmx_with_the_fragment(viewer_browser, world):
    web = make_team("Web")
    response = viewer_browser.get(f"{LIST}?team={web.pk}", headers={"HX-Request": "true"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html and 'id="policies"' in html
    assert "Payments primary" not in html and "No policy yet: incidents of Web" in html
    assert "No such team." in viewer_browser.get(f"{LIST}?team=nope").content.decode()


def test_user_text_is_escaped(viewer_browser, world):
    policies.update_policy(world["policy"], name="<script>alert(1)</script>", description="<b>bold</b>")
    for url in (LIST, f"/oncall/policies/{world['policy'].pk}/"):
        html = viewer_browser.get(url).content.decode()
        assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<b>bold</b>" not in viewer_browser.get(f"/oncall/policies/{world['policy'].pk}/").content.decode()


def test_the_detail_says_who_each_step_pages_and_what_falls_back_to_it(viewer_browser, world):
    policies.create_policy(
        team=world["team"], name="Billing", services=["billing"], steps=[StepSpec(users=[world["ann"]])]
    )
    response = viewer_browser.get(f"/oncall/policies/{world['policy'].pk}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Whoever is on call on <strong>Primary</strong>" in html and "now Ann" in html
    assert "Ann, Bob" in html and "Channel <strong>#ops</strong>" in html
    assert "unacknowledged after 5 minutes: step 2" in html
    assert "unacknowledged after 30 minutes: step 1 again" in html  # it repeats
    fallback = html.split("As the team default</dt>")[1].split("</dd>")[0]
    assert "refunds" in fallback and "billing" not in fallback and "checkout" not in fallback
    assert "Edit" not in html.split("</h1>")[1].split("</div>")[0]  # no admin actions for viewers


def test_an_unknown_policy_is_404(viewer_browser, admin_browser):
    assert viewer_browser.get("/oncall/policies/999999/").status_code == 404
    assert admin_browser.get("/oncall/policies/999999/edit/").status_code == 404
    assert admin_browser.post("/oncall/policies/999999/delete/").status_code == 404


def test_anonymous_goes_to_the_login_and_users_without_a_role_get_403(world):
    response = Client().get(LIST)
    assert response.status_code == 302 and "/login/" in response["Location"]
    assert browser(make_user()).get(LIST).status_code == 403


def test_the_list_refuses_writes(viewer_browser, admin_browser, world):
    assert viewer_browser.post(LIST).status_code == 405
    assert admin_browser.post(f"/oncall/policies/{world['policy'].pk}/").status_code == 405


# --- creating and editing ------------------------------------------------------------------------


def test_viewers_and_responders_cannot_open_or_post_the_forms(viewer_browser, responder, world):
    for client in (viewer_browser, browser(responder)):
        assert client.get(NEW).status_code == 403
        assert client.post(NEW, form_data(world)).status_code == 403
        assert client.post(f"/oncall/policies/{world['policy'].pk}/edit/", form_data(world)).status_code == 403
        assert client.post(f"/oncall/policies/{world['policy'].pk}/delete/").status_code == 403
    assert EscalationPolicy.objects.count() == 1


def test_the_new_form_starts_with_one_step_and_the_team_asked_for(admin_browser, world):
    web = make_team("Web")
    html = admin_browser.get(f"{NEW}?team={web.pk}").content.decode()
    assert 'name="steps-TOTAL_FORMS" value="1"' in html
    assert f'<option value="{web.pk}" selected>Web</option>' in html
    assert 'name="steps-0-delay_minutes" value="15"' in html
    assert "Default for its team" in html and 'name="csrfmiddlewaretoken"' in html


def test_add_step_re_renders_the_form_with_one_more_row_and_nothing_saved(admin_browser, world):
    data = form_data(world, name="", add_step="1")
    response = admin_browser.post(NEW, data)
    html = response.content.decode()
    assert response.status_code == 200
    assert 'name="steps-TOTAL_FORMS" value="3"' in html
    assert "This field is required" not in html  # a re-render, not a validation
    assert f'<option value="{world["bob"].pk}" selected>' in html  # what was picked stays picked
    assert EscalationPolicy.objects.count() == 1


def test_remove_and_move_up_rearrange_the_rows(admin_browser, world):
    moved = admin_browser.post(NEW, form_data(world, move_up="1")).content.decode()
    step1 = moved.split('id="step-1"')[1].split("</fieldset>")[0]
    assert f'<option value="{world["bob"].pk}" selected>' in step1  # Bob's step is first now
    removed = admin_browser.post(NEW, form_data(world, remove_step="0")).content.decode()
    assert 'name="steps-TOTAL_FORMS" value="1"' in removed
    left = removed.split('id="step-1"')[1].split("</fieldset>")[0]  # only the steps' selects (ids repeat)
    assert f'<option value="{world["primary"].pk}" selected>' not in left
    assert f'<option value="{world["bob"].pk}" selected>' in left


def test_an_admin_creates_a_policy_with_two_steps(admin_browser, world):
    response = admin_browser.post(NEW, form_data(world, services="refunds, ", is_default="on"))
    created = EscalationPolicy.objects.get(name="Checkout nights")
    assert response.status_code == 302 and response["Location"] == f"/oncall/policies/{created.pk}/"
    assert created.services == ["refunds"]
    assert step_rows(created) == [(5, ["Primary"], [], []), (15, [], ["bob"], [])]
    assert Team.objects.get(pk=world["team"].pk).default_policy == created


def test_htmx_posts_swap_the_form_or_redirect_the_page(admin_browser, world):
    response = admin_browser.post(NEW, form_data(world, add_step="1"), headers={"HX-Request": "true"})
    html = response.content.decode()
    assert "<html" not in html and html.lstrip().startswith('<form id="policy-form"')
    invalid = admin_browser.post(NEW, form_data(world, name=""), headers={"HX-Request": "true"})
    assert invalid.status_code == 200  # htmx swaps only 2xx answers: the inline errors must arrive
    assert "This field is required" in invalid.content.decode() and "<html" not in invalid.content.decode()
    response = admin_browser.post(NEW, form_data(world), headers={"HX-Request": "true"})
    created = EscalationPolicy.objects.get(name="Checkout nights")
    assert response["HX-Redirect"] == f"/oncall/policies/{created.pk}/"


def test_errors_show_inline_on_the_fields_and_the_step_rows(admin_browser, world):
    data = form_data(world, services="checkout", **{"steps-1-users": [], "steps-1-delay_minutes": "15"})
    response = admin_browser.post(NEW, data)
    assert response.status_code == 400
    html = response.content.decode()
    services = html.split('for="id_services"')[1].split("</div>")[0]
    assert "uses policy Payments primary" in services
    step2 = html.split('id="step-2"')[1].split("</fieldset>")[0]
    assert "Page at least one user, schedule or channel." in step2
    assert EscalationPolicy.objects.count() == 1


def test_form_errors_are_inline_too(admin_browser, world):
    response = admin_browser.post(NEW, form_data(world, name="", **{"steps-0-delay_minutes": "0"}))
    assert response.status_code == 400
    html = response.content.decode()
    assert "This field is required" in html.split('for="id_name"')[1].split("</div>")[0]
    assert "greater than or equal to 1" in html.split('id="step-1"')[1].split("</fieldset>")[0]


def test_the_edit_form_shows_the_policy_and_saves_its_new_steps(admin_browser, world):
    url = f"/oncall/policies/{world['policy'].pk}/edit/"
    html = admin_browser.get(url).content.decode()
    assert 'name="steps-TOTAL_FORMS" value="3"' in html
    assert 'value="Payments primary"' in html and 'value="checkout"' in html
    assert 'id="id_is_default" checked' in html

    data = form_data(world, name="Payments primary", services="checkout")  # is_default unticked
    response = admin_browser.post(url, data)
    assert response.status_code == 302
    policy = EscalationPolicy.objects.get(pk=world["policy"].pk)
    assert step_rows(policy) == [(5, ["Primary"], [], []), (15, [], ["bob"], [])]
    assert policy.repeat == 0
    assert Team.objects.get(pk=world["team"].pk).default_policy is None


# --- deleting ------------------------------------------------------------------------------------


def test_delete_asks_first_then_deletes(admin_browser, world):
    url = f"/oncall/policies/{world['policy'].pk}/delete/"
    confirm = admin_browser.get(url).content.decode()
    assert "It is Payments's default policy" in confirm and 'method="post"' in confirm
    response = admin_browser.post(url)
    assert response.status_code == 302 and response["Location"] == LIST
    assert not EscalationPolicy.objects.exists()


# --- Django admin --------------------------------------------------------------------------------


def admin_policy_post(world, **steps) -> dict:
    data = {
        "team": world["team"].pk,
        "name": "From the admin",
        "description": "",
        "services": '["refunds"]',
        "repeat": "0",
        "steps-TOTAL_FORMS": "1",
        "steps-INITIAL_FORMS": "0",
        "steps-MIN_NUM_FORMS": "1",
        "steps-MAX_NUM_FORMS": "1000",
        "steps-0-position": "0",
        "steps-0-delay_minutes": "5",
    }
    return data | {f"steps-0-{name}": value for name, value in steps.items()}


def test_the_admin_adds_a_policy_with_its_steps_inline_and_checks_their_targets(admin_browser, world):
    refused = admin_browser.post("/admin/oncall/escalationpolicy/add/", admin_policy_post(world))
    assert refused.status_code == 200 and "Page at least one user, schedule or channel." in refused.content.decode()
    response = admin_browser.post(
        "/admin/oncall/escalationpolicy/add/", admin_policy_post(world, users=[world["ann"].pk])
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    created = EscalationPolicy.objects.get(name="From the admin")
    assert step_rows(created) == [(5, [], ["ann"], [])]
    listing = admin_browser.get("/admin/oncall/escalationpolicy/").content.decode()
    assert "From the admin" in listing and "Payments primary" in listing


def test_escalations_and_pages_are_read_only_in_the_admin_and_found_by_incident(admin_browser, world):
    from incidents.oncall.models import Escalation, Page, PageContact
    from tests.factories import make_incident

    incident = make_incident(title="Search down", service="search")
    other = make_incident(title="Other", service="search")
    run = Escalation.objects.create(incident=incident, policy=world["policy"], name="Payments primary", steps=[{}])
    page = Page.objects.create(
        escalation=run, incident=incident, user=world["ann"], round=0, step_index=0, status=Page.Status.FAILED
    )
    PageContact.objects.create(page=page, position=0, kind="email", label="Work (Email)", due_at=page.created_at)
    Escalation.objects.create(incident=other, name="Other", steps=[{}])

    runs = admin_browser.get(f"/admin/oncall/escalation/?q={str(incident.pk)[:8]}").content.decode()
    assert "Payments primary" in runs and ">Other<" not in runs
    link = f'href="/admin/oncall/page/{page.pk}/change/'
    assert link in admin_browser.get("/admin/oncall/page/?status__exact=failed").content.decode()
    assert link not in admin_browser.get("/admin/oncall/page/?status__exact=delivered").content.decode()
    detail = admin_browser.get(f"/admin/oncall/page/{page.pk}/change/").content.decode()
    assert "Work (Email)" in detail and 'name="_save"' not in detail  # view only
    assert admin_browser.get("/admin/oncall/page/add/").status_code == 403
    assert admin_browser.post(f"/admin/oncall/escalation/{run.pk}/delete/").status_code == 403
