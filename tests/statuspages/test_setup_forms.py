"""The status page set-up forms (page, component, group, maintenance) render through the form components with
human labels and help text, and every time zone on them is a picker."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.test import Client

from statuspages.forms import ComponentForm, GroupForm, MaintenanceForm, PageForm, in_zone
from statuspages.models import Maintenance
from tests.factories import make_layout, make_page, make_user

# What Django would make of the field names: not labels a person would write.
MACHINE_LABELS = {
    "Slug", "Logo url", "Tz", "Is public", "Position", "Showcase", "Only show if degraded", "Scheduled for",
    "Scheduled until", "Remove password",
}  # fmt: skip


@pytest.fixture
def admin(db) -> Client:
    client = Client()
    client.force_login(make_user("admin"))
    return client


def test_every_setup_field_has_a_human_label_and_the_forms_render_through_the_components(db):
    page = make_page()
    forms = [PageForm(), PageForm(instance=page), ComponentForm(page=page), GroupForm(), MaintenanceForm(page=page)]
    for form in forms:
        for name, field in form.fields.items():
            label = str(field.label or "")
            assert label and label[0].isupper() and label not in MACHINE_LABELS, (type(form), name)
        html = str(form)
        assert 'class="field' in html and "<p>" not in html and ":</label>" not in html
    assert all(f.help_text for f in ComponentForm(page=page).fields.values())


def test_the_detail_page_renders_the_component_group_and_maintenance_forms_with_labels(admin):
    page = make_page(time_zone="Europe/Paris")
    make_layout(page)
    html = admin.get("/status-pages/acme/").content.decode()
    for label in ("Show 90-day uptime bars", "Hide while operational", "Order", "Affected components", "Starts"):
        assert label in html
    assert '<option value="Europe/Paris" selected>Paris</option>' in html  # the maintenance zone: the page's
    assert 'type="checkbox" name="monitors"' in html and 'type="checkbox" name="components"' in html
    assert "(times in UTC)" not in html


def test_maintenance_times_are_read_in_the_chosen_zone(admin):
    page = make_page(time_zone="Europe/Paris")
    form = {"title": "Upgrade", "scheduled_for": "2030-07-01T10:00", "scheduled_until": "2030-07-01T11:30"}
    assert admin.post("/status-pages/acme/maintenance/", form).status_code == 302
    window = Maintenance.objects.get(page=page)
    assert window.scheduled_for == datetime(2030, 7, 1, 8, 0, tzinfo=UTC)  # Paris summer time: UTC+2
    admin.post("/status-pages/acme/maintenance/", form | {"title": "Other", "time_zone": "America/New_York"})
    assert Maintenance.objects.get(title="Other").scheduled_for == datetime(2030, 7, 1, 14, 0, tzinfo=UTC)
    html = admin.get("/status-pages/acme/").content.decode()
    assert "2030-07-01 10:00 \u2013 2030-07-01 11:30 CEST" in html


def test_a_time_that_a_clock_change_skips_is_refused(admin):
    make_page(time_zone="Europe/Paris")
    form = {"title": "x", "scheduled_for": "2030-03-31T02:30", "scheduled_until": "2030-03-31T04:00"}
    response = admin.post("/status-pages/acme/maintenance/", form)
    assert response.status_code == 400 and "clock change" in response.content.decode()
    with pytest.raises(ValueError):
        in_zone(datetime(2030, 10, 27, 2, 30, tzinfo=UTC), "Europe/Paris")  # happens twice
    assert in_zone(datetime(2030, 1, 1, 12, 0, tzinfo=UTC), "UTC") == datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
