"""Monitor dependencies: a DOWN while a monitor it depends on is DOWN is recorded and shown, but sends no alert,
opens no incident, and joins the parent's incident timeline instead; transitive; cycles refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from incidents.models import Incident, IncidentSignal, TimelineEntry
from monitors import dependencies, scheduler, services, uptime
from monitors.models import Monitor, MonitorStatus, StatusPeriod
from monitors.ping import record_ping
from monitors.probes import CheckResult
from monitors.scheduler import record_result
from statuspages.models import Component, ComponentStatus
from tests.factories import make_heartbeat, make_monitor, make_page
from tests.notifications.factories import make_email_channel
from tracepoint.notifications.models import Delivery

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DOWN = CheckResult("down", None, "connection refused")
UP = CheckResult("up", 20)


@pytest.fixture
def channel(db):
    return make_email_channel(topics=["monitor.*", "incident.*"])


def about(delivery: Delivery) -> str:
    return delivery.subject


def vpn_and_shop() -> tuple[Monitor, Monitor]:
    vpn = make_monitor("VPN", open_incident=True, incident_severity="SEV1")
    shop = make_monitor("Shop behind VPN", open_incident=True)
    shop.depends_on.add(vpn)
    for monitor in (vpn, shop):
        record_result(monitor.pk, UP, now=T0)
    return vpn, shop


def test_a_child_down_while_its_parent_is_down_sends_nothing_and_joins_the_parents_incident(
    channel, django_capture_on_commit_callbacks
):
    vpn, shop = vpn_and_shop()
    record_result(vpn.pk, DOWN, now=T0 + timedelta(minutes=1))
    record_result(shop.pk, DOWN, now=T0 + timedelta(minutes=2))

    shop.refresh_from_db()
    assert shop.status == MonitorStatus.DOWN and shop.down_because_of == vpn and shop.down_unannounced
    # No delivery about the child: the only alerts are the VPN's (its DOWN and its incident).
    subjects = [about(d) for d in Delivery.objects.order_by("id")]
    assert subjects and all("Shop" not in subject for subject in subjects), subjects
    assert any(subject.startswith("[DOWN] VPN") for subject in subjects)
    # No incident of its own: one incident, the VPN's, with the VPN as its only signal.
    incident = Incident.objects.get()
    assert incident.title == "VPN is down"
    assert list(IncidentSignal.objects.values_list("ref", flat=True)) == [str(vpn.pk)]
    # The child is on the parent's incident timeline, and linked to it (its page lists it).
    entry = incident.timeline.get(kind=TimelineEntry.Kind.SIGNAL)
    assert entry.body == (
        "Monitor “Shop behind VPN” is down because “VPN” is down: connection refused. "
        "It sends no alert and opens no incident of its own."
    )
    assert entry.actor_name == "monitor Shop behind VPN"
    assert shop.incident_links.get().incident == incident


def test_the_childs_status_and_uptime_are_still_recorded(channel):
    vpn, shop = vpn_and_shop()
    record_result(vpn.pk, DOWN, now=T0 + timedelta(minutes=1))
    record_result(shop.pk, DOWN, now=T0 + timedelta(minutes=2))
    period = StatusPeriod.objects.get(monitor=shop, ended_at__isnull=True)
    assert (period.status, period.started_at) == (MonitorStatus.DOWN, T0 + timedelta(minutes=2))
    assert period.reason == "connection refused (because VPN is down)"
    found = uptime.uptime(shop, window="24h", now=T0 + timedelta(minutes=12))
    assert found.down_seconds == 600 and found.up_seconds == 120


def test_the_childs_status_page_component_shows_the_outage(channel, django_capture_on_commit_callbacks):
    vpn, shop = vpn_and_shop()
    page = make_page()
    component = Component.objects.create(page=page, name="Shop", position=1)
    component.monitors.add(shop)
    record_result(vpn.pk, DOWN, now=T0 + timedelta(minutes=1))
    with django_capture_on_commit_callbacks(execute=True):
        record_result(shop.pk, DOWN, now=T0 + timedelta(minutes=2))
    component.refresh_from_db()
    assert component.status == ComponentStatus.MAJOR


def test_dependencies_are_transitive(channel):
    vpn = make_monitor("VPN")
    database = make_monitor("Database")
    api = make_monitor("API", open_incident=True)
    database.depends_on.add(vpn)
    api.depends_on.add(database)
    record_result(vpn.pk, DOWN, now=T0)
    record_result(api.pk, DOWN, now=T0 + timedelta(minutes=1))  # the database still answers (or is not checked)
    api.refresh_from_db()
    assert api.status == MonitorStatus.DOWN and api.down_because_of == vpn
    assert not Incident.objects.exists()
    assert [about(d) for d in Delivery.objects.all()] == ["[DOWN] VPN: connection refused"]
    # The database goes down too: blamed on the VPN, the root of the chain.
    record_result(database.pk, DOWN, now=T0 + timedelta(minutes=2))
    database.refresh_from_db()
    assert database.down_because_of == vpn
    assert Delivery.objects.count() == 1


def test_a_child_that_recovers_with_its_parent_sends_no_up_alert(channel):
    vpn, shop = vpn_and_shop()
    record_result(vpn.pk, DOWN, now=T0 + timedelta(minutes=1))
    record_result(shop.pk, DOWN, now=T0 + timedelta(minutes=2))
    record_result(vpn.pk, UP, now=T0 + timedelta(minutes=5))
    record_result(shop.pk, UP, now=T0 + timedelta(minutes=6))
    shop.refresh_from_db()
    assert shop.status == MonitorStatus.UP and shop.down_because_of is None and not shop.down_unannounced
    assert all("Shop" not in about(d) for d in Delivery.objects.all())
    assert "[UP] VPN" in [about(d) for d in Delivery.objects.all()]


def test_a_child_still_failing_once_its_parent_is_up_alerts_on_its_next_failures(channel):
    vpn, shop = vpn_and_shop()
    record_result(vpn.pk, DOWN, now=T0 + timedelta(minutes=1))
    record_result(shop.pk, DOWN, now=T0 + timedelta(minutes=2))
    record_result(vpn.pk, UP, now=T0 + timedelta(minutes=5))
    shop.refresh_from_db()
    # Released: no longer blamed, checked again at once, not announced yet (the next check decides).
    assert shop.down_because_of is None and shop.down_unannounced
    assert shop.next_check_at == T0 + timedelta(minutes=5) and shop.streak_count == 0
    assert all("Shop" not in about(d) for d in Delivery.objects.all())
    record_result(shop.pk, DOWN, now=T0 + timedelta(minutes=6))
    shop.refresh_from_db()
    assert shop.status == MonitorStatus.DOWN and not shop.down_unannounced
    alert = Delivery.objects.get(subject__startswith="[DOWN] Shop")
    assert "still down once the monitors it depends on were up: connection refused" in alert.subject
    assert "since 2026-03-01 12:02:00 UTC." in alert.body_text  # down since its first failure
    assert Incident.objects.filter(title="Shop behind VPN is down").exists()  # its own problem now
    # Its recovery is news again.
    record_result(shop.pk, UP, now=T0 + timedelta(minutes=9))
    assert Delivery.objects.filter(subject="[UP] Shop behind VPN").count() == 1


def test_a_child_released_while_another_parent_is_down_is_blamed_on_that_one(channel):
    vpn, shop = vpn_and_shop()
    dns = make_monitor("DNS")
    shop.depends_on.add(dns)
    record_result(vpn.pk, DOWN, now=T0 + timedelta(minutes=1))
    record_result(dns.pk, DOWN, now=T0 + timedelta(minutes=1))
    record_result(shop.pk, DOWN, now=T0 + timedelta(minutes=2))
    record_result(vpn.pk, UP, now=T0 + timedelta(minutes=5))
    shop.refresh_from_db()
    assert shop.down_because_of == dns and shop.down_unannounced
    record_result(shop.pk, DOWN, now=T0 + timedelta(minutes=6))
    assert all("Shop" not in about(d) for d in Delivery.objects.all())


def test_a_late_heartbeat_behind_a_down_parent_is_blamed_and_announced_once_the_parent_is_up(channel):
    vpn = make_monitor("VPN")
    backup = make_heartbeat("Nightly backup")
    backup.depends_on.add(vpn)
    record_ping(backup.ping_key, now=T0)
    record_result(vpn.pk, DOWN, now=T0 + timedelta(minutes=1))
    scheduler.mark_late_heartbeats(now=T0 + timedelta(hours=2))
    backup.refresh_from_db()
    assert backup.status == MonitorStatus.DOWN and backup.down_because_of == vpn
    assert all("backup" not in about(d) for d in Delivery.objects.all())
    # The VPN is back; no check will run for a heartbeat: it is late on its own account now.
    record_result(vpn.pk, UP, now=T0 + timedelta(hours=3))
    assert Delivery.objects.filter(subject__startswith="[DOWN] Nightly backup").count() == 1


def test_a_parent_that_fails_in_the_same_tick_as_its_child_is_recorded_first(channel, target):
    vpn = services.create_monitor(name="VPN", kind="http", url=target.url, down_after=1)
    shop = services.create_monitor(name="Shop behind VPN", kind="http", url=target.url, down_after=1)
    shop.depends_on.add(vpn)
    assert dependencies.parents_first([shop.pk, vpn.pk]) == [vpn.pk, shop.pk]
    target.mode = "failing"  # one server behind both: the VPN and the shop fail together
    Monitor.objects.update(next_check_at=T0)
    assert scheduler.run_due_checks(now=T0 + timedelta(seconds=1)) == 2
    shop.refresh_from_db()
    assert shop.status == MonitorStatus.DOWN and shop.down_because_of == vpn
    assert [about(d).split(":")[0] for d in Delivery.objects.all()] == ["[DOWN] VPN"]


def test_the_down_is_blamed_only_on_a_down_parent(channel):
    vpn, shop = vpn_and_shop()
    record_result(shop.pk, DOWN, now=T0 + timedelta(minutes=1))
    shop.refresh_from_db()
    assert Monitor.objects.get(pk=vpn.pk).status == MonitorStatus.UP
    assert shop.down_because_of is None and not shop.down_unannounced
    assert Delivery.objects.filter(subject__startswith="[DOWN] Shop").count() == 1


# --- cycles ------------------------------------------------------------------------------------------------


def test_cycles_are_found_and_named(db):
    a, b, c = make_monitor("A"), make_monitor("B"), make_monitor("C")
    b.depends_on.add(c)
    c.depends_on.add(a)
    assert dependencies.find_cycle(a.pk, [b.pk]) == [a.pk, b.pk, c.pk, a.pk]
    with pytest.raises(dependencies.DependencyCycle) as refused:
        dependencies.check_no_cycle(a, [b])
    assert refused.value.message.startswith("This would make a cycle: A → B → C → A.")
    with pytest.raises(dependencies.DependencyCycle) as itself:
        dependencies.check_no_cycle(a, [a])
    assert itself.value.message == "A monitor cannot depend on itself (A → A)."
    assert dependencies.find_cycle(c.pk, [b.pk]) == [c.pk, b.pk, c.pk]
    assert dependencies.find_cycle(a.pk, [c.pk]) == [a.pk, c.pk, a.pk]
    assert dependencies.find_cycle(b.pk, [a.pk]) is None  # B → A → nothing: fine
    assert dependencies.find_cycle(None, [a.pk, b.pk]) is None  # a new monitor closes no cycle


def test_the_graph_walk_survives_a_cycle_already_stored(db):
    a, b = make_monitor("A"), make_monitor("B")
    a.depends_on.add(b)
    b.depends_on.add(a)  # e.g. two edits at once
    assert dependencies.ancestor_ids(a.pk) == [b.pk]  # and the walk ends
    record_result(b.pk, DOWN, now=T0)
    record_result(a.pk, DOWN, now=T0 + timedelta(minutes=1))
    a.refresh_from_db()
    assert a.down_because_of == b
