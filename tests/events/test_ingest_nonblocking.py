"""``tracepoint.lib.blocking``, and the two places ingest would wait: the key lookup and the quota store."""

from __future__ import annotations

import pytest

from events import keys, quota
from tracepoint.lib.blocking import WouldBlock, may_block, without_blocking


def test_may_block_refuses_only_inside_without_blocking():
    may_block()  # nothing happens outside
    with without_blocking(), pytest.raises(WouldBlock):
        may_block()
    may_block()  # and nothing after


def test_a_remembered_key_is_found_without_blocking_and_an_unknown_one_is_not_looked_up(project, project_key):
    with without_blocking(), pytest.raises(WouldBlock):
        keys.authenticate_key(project_key)
    assert keys.authenticate_key(project_key).project_id == project.pk  # looked up, and remembered
    with without_blocking():
        assert keys.authenticate_key(project_key).project_id == project.pk


def test_a_quota_lease_admits_without_blocking_and_its_end_asks_the_store_later(project, mid_window):
    quota.reset()
    project = quota.set_events_per_minute(project, 6_000)  # leases of 30 events (spike guard 3,000 / 100)
    with without_blocking(), pytest.raises(WouldBlock):
        quota.check(project)  # no lease yet: the store must be asked
    assert quota.check(project).allowed  # leased 30, one used
    with without_blocking():
        assert all(quota.check(project).allowed for _ in range(29))
        with pytest.raises(WouldBlock):
            quota.check(project)  # the lease is used up
    assert quota.check(project).allowed  # a new lease, from the store
