"""The monitor form: the kind first, then only that kind's fields in fieldsets; create and edit; headers as lines."""

from __future__ import annotations

import re

import pytest

from monitors import kinds, services
from monitors.forms import HeadersField, MonitorForm
from monitors.models import Monitor, MonitorKind
from monitors.serializers import MonitorSerializer

HTTP_ONLY = ("url", "method", "headers", "body", "expected_statuses", "keyword", "tls_expiry_days")
TCP_ONLY = ("host", "port")
HEARTBEAT_ONLY = ("schedule_kind", "period_seconds", "cron", "tz", "grace_seconds", "manual_resume")


def names(page: str) -> set[str]:
    """The names of the form controls on a page."""
    return set(re.findall(r'<(?:input|select|textarea)[^>]*\bname="([^"]+)"', page)) - {"csrfmiddlewaretoken"}


def new_http(**overrides) -> dict:
    return {"kind": "http", "name": "Shop", "url": "https://shop.example/", "method": "GET",
            "expected_statuses": "200-299", "interval_seconds": 60, "down_after": 2, "up_after": 1,
            "tls_expiry_days": 14, "incident_severity": "SEV2", "follow_redirects": "on"} | overrides  # fmt: skip


@pytest.fixture
def responder_browser(client, responder):
    client.force_login(responder)
    return client


def test_every_kind_says_which_fields_it_has_and_they_are_api_fields():
    assert set(kinds.KINDS) == set(MonitorKind.values)
    writable = set(MonitorSerializer.Meta.fields) - set(MonitorSerializer.Meta.read_only_fields)
    assert kinds.all_kind_fields() <= writable
    for spec in kinds.KINDS.values():
        assert len(spec.fields) == len(set(spec.fields)), spec.kind  # a field appears once per kind


def test_the_first_step_asks_for_the_kind(responder_browser):
    response = responder_browser.get("/monitors/new/")
    page = response.content.decode()
    assert response.status_code == 200
    assert names(page) == {"kind"}  # only the kind picker, no settings yet
    for kind in ("http", "tcp", "heartbeat"):
        assert f'type="radio" name="kind" value="{kind}"' in page
    assert 'method="get" action="/monitors/new/"' in page  # works without JavaScript: ?kind=…


def test_choosing_http_shows_only_http_fields_grouped_in_fieldsets(responder_browser):
    page = responder_browser.get("/monitors/new/?kind=http").content.decode()
    fields = names(page)
    assert set(HTTP_ONLY) <= fields
    assert not fields & {*TCP_ONLY, *HEARTBEAT_ONLY}
    legends = re.findall(r'<fieldset class="group" data-group="(\w+)">\s*<legend>([^<]+)</legend>', page)
    assert legends == [("request", "Request"), ("assertions", "Assertions"), ("schedule", "Schedule"),
                       ("alerting", "Alerting")]  # fmt: skip
    assert re.search(r'name="kind" value="http"[^>]*checked', page)  # the picker shows the chosen kind
    assert "Test now" in page


def test_labels_are_human_with_help_and_defaults(responder_browser):
    page = responder_browser.get("/monitors/new/?kind=http").content.decode()
    for label in ("URL", "HTTP method", "Expected status codes", "Certificate expiry warning (days)",
                  "Check every (seconds)", "Timeout (seconds)", "Down after (failures in a row)"):  # fmt: skip
        assert f">{label}<" in page, label
    assert "Url" not in page and "Tls expiry days" not in page and "Tz" not in page and ":</label>" not in page
    assert re.search(r'name="interval_seconds" value="60"', page)
    assert re.search(r'name="down_after" value="2"', page)
    assert re.search(r'name="expected_statuses" value="200-399"', page)
    assert re.search(r'name="tls_expiry_days" value="14"', page)
    assert re.search(r'name="timeout_seconds"[^>]*placeholder="auto"', page)
    assert "80 % of the interval, at most 10 seconds" in page
    assert '<option value="GET" selected>GET</option>' in page


def test_tcp_shows_the_target_and_no_http_fields(responder_browser):
    page = responder_browser.get("/monitors/new/?kind=tcp").content.decode()
    fields = names(page)
    assert set(TCP_ONLY) <= fields and not fields & {*HTTP_ONLY, *HEARTBEAT_ONLY}
    assert "<legend>Target</legend>" in page


def test_heartbeat_shows_its_schedule_a_zone_picker_and_the_ping_url_instead_of_test_now(responder_browser):
    page = responder_browser.get("/monitors/new/?kind=heartbeat").content.decode()
    fields = names(page)
    assert set(HEARTBEAT_ONLY) <= fields and not fields & {*HTTP_ONLY, *TCP_ONLY, "interval_seconds"}
    assert re.search(r'<select name="tz"[^>]*hx-get="/monitors/form/cron-preview/"', page)
    assert '<optgroup label="Europe">' in page and '<option value="UTC" selected>UTC</option>' in page
    assert 'hx-trigger="input changed delay:300ms"' in page and 'id="cron-preview"' in page
    assert "Test now" not in page
    assert "/ping/&lt;ping key&gt;" in page


def test_an_unknown_kind_is_refused_with_the_picker(responder_browser):
    response = responder_browser.get("/monitors/new/?kind=ftp")
    assert response.status_code == 400
    assert "Pick one of the kinds below." in response.content.decode()


def test_switching_kind_with_htmx_returns_only_the_form_and_keeps_the_name(responder_browser):
    response = responder_browser.get("/monitors/new/?kind=tcp&name=Primary+db", headers={"HX-Request": "true"})
    page = response.content.decode()
    assert response.status_code == 200
    assert page.lstrip().startswith('<div id="monitor-form">') and "<html" not in page
    assert 'value="Primary db"' in page and 'name="host"' in page and 'name="url"' not in page
    assert response["HX-Push-Url"] == "/monitors/new/?kind=tcp"


def test_creating_an_http_monitor_without_a_timeout_takes_the_default_of_its_interval(responder_browser):
    response = responder_browser.post("/monitors/new/", new_http(interval_seconds=10, timeout_seconds=""))
    assert response.status_code == 302, response.content.decode()[:3000]
    monitor = Monitor.objects.get(name="Shop")
    assert response["Location"] == f"/monitors/{monitor.pk}/"
    assert (monitor.kind, monitor.interval_seconds, monitor.timeout_seconds) == ("http", 10, 8)
    assert monitor.expected_statuses == "200-299" and monitor.headers == {}


def test_an_explicit_timeout_too_long_for_the_interval_is_explained_inline(responder_browser):
    response = responder_browser.post("/monitors/new/", new_http(interval_seconds=10, timeout_seconds=15))
    page = response.content.decode()
    assert response.status_code == 400
    assert "Shorter than the interval (10 s); leave it out for the default, 8 s." in page
    assert 'class="field field-number has-error' in page
    assert not Monitor.objects.exists()


def test_a_tcp_monitor_needs_its_host_and_port(responder_browser):
    response = responder_browser.post("/monitors/new/", {"kind": "tcp", "name": "db", "interval_seconds": 60})
    assert response.status_code == 400
    errors = re.findall(r'id="id_(\w+)_error"', response.content.decode())
    assert {"host", "port"} <= set(errors)


def test_headers_are_lines_of_name_and_value_or_json():
    field = HeadersField(required=False)
    assert field.clean("Authorization: Bearer x\n\nAccept: text/html") == {
        "Authorization": "Bearer x",
        "Accept": "text/html",
    }
    assert field.clean('{"X-Key": 1}') == {"X-Key": "1"}
    assert field.clean("") == {}
    assert field.prepare_value({"A": "b"}) == "A: b"
    with pytest.raises(Exception, match="Line 1"):
        field.clean("no colon here")


def test_a_heartbeat_with_a_cron_schedule_is_created(responder_browser):
    response = responder_browser.post(
        "/monitors/new/",
        {
            "kind": "heartbeat",
            "name": "Backup",
            "schedule_kind": "cron",
            "cron": "0 3 * * *",
            "tz": "Europe/Paris",
            "period_seconds": 86400,
            "grace_seconds": 3600,
            "incident_severity": "SEV3",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    monitor = Monitor.objects.get(name="Backup")
    assert (monitor.kind, monitor.cron, monitor.tz, monitor.next_check_at) == (
        "heartbeat",
        "0 3 * * *",
        "Europe/Paris",
        None,
    )


def test_a_bad_cron_expression_is_refused_on_the_field(responder_browser):
    response = responder_browser.post(
        "/monitors/new/",
        {
            "kind": "heartbeat",
            "name": "Backup",
            "schedule_kind": "cron",
            "cron": "0 25 * * *",
            "tz": "UTC",
            "period_seconds": 86400,
            "grace_seconds": 3600,
            "incident_severity": "SEV3",
        },
    )
    page = response.content.decode()
    assert response.status_code == 400
    assert 'id="id_cron_error"' in page and "Not a cron expression: bad hour" in page  # the preview says why


def test_editing_shows_only_its_kinds_fields_and_no_picker(responder_browser):
    monitor = services.create_monitor(name="db", kind="tcp", host="db.example", port=5432)
    response = responder_browser.get(f"/monitors/{monitor.pk}/edit/")
    page = response.content.decode()
    assert response.status_code == 200
    assert names(page) == {"name", *TCP_ONLY, "degraded_after_ms", "interval_seconds",
                           "timeout_seconds", "down_after", "up_after", "open_incident", "incident_severity",
                           "service"}  # fmt: skip
    assert 'value="db.example"' in page and "Kind: <strong>TCP port</strong>" in page
    assert f'hx-post="/monitors/form/test/?monitor={monitor.pk}"' in page


def test_editing_saves_and_a_default_timeout_follows_the_interval(responder_browser):
    monitor = services.create_monitor(name="Shop", kind="http", url="https://shop.example/")
    assert monitor.timeout_seconds == 10
    page = responder_browser.get(f"/monitors/{monitor.pk}/edit/").content.decode()
    assert re.search(r'<input type="number" name="timeout_seconds"(?![^>]*value=)', page)  # blank: the default
    response = responder_browser.post(
        f"/monitors/{monitor.pk}/edit/", new_http(interval_seconds=10, timeout_seconds="")
    )
    assert response.status_code == 302 and response["Location"] == f"/monitors/{monitor.pk}/"
    monitor.refresh_from_db()
    assert (monitor.interval_seconds, monitor.timeout_seconds, monitor.expected_statuses) == (10, 8, "200-299")


def test_a_refused_edit_keeps_the_saved_monitor(responder_browser):
    monitor = services.create_monitor(name="Shop", kind="http", url="https://shop.example/")
    response = responder_browser.post(f"/monitors/{monitor.pk}/edit/", new_http(name="Renamed", url="ftp://x"))
    assert response.status_code == 400
    page = response.content.decode()
    assert "Edit “Shop”" in page and 'value="Renamed"' in page  # the heading names the saved monitor
    assert Monitor.objects.get(pk=monitor.pk).name == "Shop"


def test_heartbeat_edit_shows_its_ping_url(responder_browser, settings):
    monitor = services.create_monitor(name="Backup", kind="heartbeat")
    page = responder_browser.get(f"/monitors/{monitor.pk}/edit/").content.decode()
    assert f"{settings.TRACEPOINT['BASE_URL'].rstrip('/')}/ping/{monitor.ping_key}" in page


def test_viewers_and_anonymous_users_do_not_get_the_form(client, viewer):
    monitor = services.create_monitor(name="Shop", kind="http", url="https://shop.example/")
    anonymous = client.get(f"/monitors/{monitor.pk}/edit/")
    assert anonymous.status_code == 302 and "/login/" in anonymous["Location"]
    assert client.get("/monitors/new/?kind=http").status_code == 302
    client.force_login(viewer)
    assert client.get(f"/monitors/{monitor.pk}/edit/").status_code == 403
    assert client.post(f"/monitors/{monitor.pk}/edit/", new_http(name="x")).status_code == 403
    assert client.post("/monitors/new/", new_http()).status_code == 403
    assert Monitor.objects.get(pk=monitor.pk).name == "Shop"


def test_other_methods_are_not_allowed(responder_browser):
    monitor = services.create_monitor(name="Shop", kind="http", url="https://shop.example/")
    assert responder_browser.delete("/monitors/new/").status_code == 405
    assert responder_browser.put(f"/monitors/{monitor.pk}/edit/").status_code == 405


def test_the_form_escapes_what_users_typed(responder_browser):
    monitor = services.create_monitor(name="<b>Shop</b>", kind="http", url="https://shop.example/", keyword="<i>")
    page = responder_browser.get(f"/monitors/{monitor.pk}/edit/").content.decode()
    assert "<b>Shop</b>" not in page and "&lt;b&gt;Shop&lt;/b&gt;" in page
    assert 'value="&lt;i&gt;"' in page


def test_the_form_class_keeps_only_the_kinds_fields():
    form = MonitorForm(kind="tcp")
    assert set(form.fields) == {"kind", "name", *kinds.KINDS["tcp"].fields}
    assert [group["name"] for group in form.fieldsets()] == ["request", "assertions", "schedule", "alerting"]
