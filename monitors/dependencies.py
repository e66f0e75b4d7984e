"""Monitor dependencies: "every check behind the VPN depends on the VPN monitor".

A monitor may depend on others (``Monitor.depends_on``), transitively: if A depends on B and B on C,
C being DOWN explains A's DOWN too. The graph is walked level by level from the monitor (one query per
level), with a visited set, so it stays correct even if a cycle slipped in by two concurrent edits.
Cycles are refused when dependencies are set (``check_no_cycle``, called by the serializer that the API
and the form share).

What a blamed DOWN sets off (no alert, no incident, a note on the parent's incident) is decided where
every status change is decided, monitors/status.py; this module only answers questions about the graph.
"""

from __future__ import annotations

from collections.abc import Iterable

from monitors.models import Monitor, MonitorStatus
from tracepoint.errors import DomainError

Edges = Monitor.depends_on.through


class DependencyCycle(DomainError):
    """The dependencies asked for would make a monitor depend on itself."""

    def __init__(self, names: list[str]):
        self.names = names
        path = " → ".join(names)
        if len(names) == 2:
            message = f"A monitor cannot depend on itself ({path})."
        else:
            message = f"This would make a cycle: {path}. A monitor cannot depend, even indirectly, on itself."
        super().__init__(message, details={"depends_on": [message], "cycle": names})


def _walk(start: Iterable[int], *, up: bool) -> list[tuple[int, int | None]]:
    """Breadth first from ``start`` (excluded) along the edges: [(monitor id, the id it was reached from)],
    nearest first. ``up``: towards what they depend on; otherwise towards their dependents."""
    src, dst = ("from_monitor_id", "to_monitor_id") if up else ("to_monitor_id", "from_monitor_id")
    frontier = list(dict.fromkeys(start))
    seen = set(frontier)
    found: list[tuple[int, int | None]] = []
    while frontier:
        pairs = Edges.objects.filter(**{f"{src}__in": frontier}).values_list(src, dst).order_by(src, dst)
        frontier = []
        for origin, target in pairs:
            if target not in seen:
                seen.add(target)
                found.append((target, origin))
                frontier.append(target)
    return found


def ancestor_ids(monitor_id: int) -> list[int]:
    """Every monitor ``monitor_id`` depends on, directly or not, nearest first."""
    return [pk for pk, _ in _walk([monitor_id], up=True)]


def descendant_ids(monitor_id: int) -> list[int]:
    """Every monitor that depends on ``monitor_id``, directly or not, nearest first."""
    return [pk for pk, _ in _walk([monitor_id], up=False)]


def down_cause(monitor: Monitor, *, exclude: Iterable[int] = ()) -> Monitor | None:
    """The monitor a DOWN of ``monitor`` is blamed on, or None when no monitor it depends on is DOWN.

    The nearest DOWN ancestor that is down on its own account (the root of the chain: with the VPN down
    and the database behind it blamed on the VPN, the API behind the database is blamed on the VPN), or
    the nearest DOWN one when none is (only possible while a change is half done)."""
    order = [pk for pk in ancestor_ids(monitor.pk) if pk != monitor.pk and pk not in set(exclude)]
    if not order:
        return None
    down = {m.pk: m for m in Monitor.objects.filter(pk__in=order, status=MonitorStatus.DOWN)}
    candidates = [down[pk] for pk in order if pk in down]
    roots = [m for m in candidates if m.down_because_of_id is None or m.down_because_of_id == monitor.pk]
    return (roots or candidates or [None])[0]


def find_cycle(monitor_id: int | None, parent_ids: Iterable[int]) -> list[int] | None:
    """The cycle that depending on ``parent_ids`` would make, as ids [monitor, parent, …, monitor]; None if none.

    A new monitor (no id yet) has no dependents, so it cannot close a cycle."""
    parents = list(dict.fromkeys(parent_ids))
    if monitor_id is None:
        return None
    if monitor_id in parents:
        return [monitor_id, monitor_id]
    for parent in parents:
        reached_from = dict(_walk([parent], up=True))
        if monitor_id in reached_from:
            path = [monitor_id]
            step: int | None = monitor_id
            while step is not None and step != parent:
                step = reached_from.get(step)
                path.append(step)
            return [monitor_id, *reversed(path)]
    return None


def check_no_cycle(monitor: Monitor | None, parents: Iterable[Monitor | int]) -> None:
    """Raise ``DependencyCycle`` (naming the monitors on the cycle) when ``monitor`` may not depend on ``parents``."""
    ids = [p.pk if isinstance(p, Monitor) else int(p) for p in parents]
    cycle = find_cycle(monitor.pk if monitor is not None else None, ids)
    if cycle is None:
        return
    names = dict(Monitor.objects.filter(pk__in=cycle).values_list("pk", "name"))
    raise DependencyCycle([names.get(pk, f"#{pk}") for pk in cycle])


def parents_first(monitor_ids: list[int]) -> list[int]:
    """``monitor_ids`` ordered so that a monitor comes after those of them it depends on: the VPN and the
    checks behind it failing in one scheduler tick, the VPN is recorded DOWN first and the checks blamed on
    it. (An ancestor's ancestors in the batch are a strict subset of its descendant's, so counting them
    orders the batch.)"""
    batch = set(monitor_ids)
    dependent = set(Edges.objects.filter(from_monitor_id__in=batch).values_list("from_monitor_id", flat=True))
    if not dependent:
        return list(monitor_ids)
    depth = {pk: len(batch.intersection(ancestor_ids(pk))) if pk in dependent else 0 for pk in monitor_ids}
    return sorted(monitor_ids, key=lambda pk: depth[pk])
