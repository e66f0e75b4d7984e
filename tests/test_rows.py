"""Finding many rows by a composite key in one query (tracepoint.rows.rows_with_keys)."""

import uuid

from django.db import connection
from django.test.utils import CaptureQueriesContext

from events import keys
from events.ingest import store_events
from events.models import Event, IssueGrouping
from tests.factories import make_event
from tests.helpers import digest_all
from tracepoint.rows import rows_with_keys


def test_only_the_wanted_combinations_are_found_not_every_mix_of_their_values(db):
    shop = keys.create_project(name="Shop", slug="shop")
    blog = keys.create_project(name="Blog", slug="blog")
    in_shop, in_blog = make_event(), make_event()
    store_events(shop, [in_shop])
    store_events(blog, [in_blog])
    missing = uuid.uuid4()
    wanted = [(shop.id, in_shop.event_id), (shop.id, in_blog.event_id), (blog.id, missing)]
    with CaptureQueriesContext(connection) as queries:
        found = rows_with_keys(Event, ["project", "event_id"], wanted, columns=["project", "event_id", "service"])
    assert found == [(shop.id, in_shop.event_id, "checkout")]  # (shop, blog's id) exists in neither project
    assert len(queries) == 1
    assert rows_with_keys(Event, ["project", "event_id"], [], columns=["id"]) == []


def test_three_key_fields_and_a_foreign_key_column_come_back_as_stored(db):
    shop = keys.create_project(name="Shop", slug="shop")
    store_events(shop, [make_event("Order 1 not found")])
    digest_all()
    grouping = IssueGrouping.objects.get()
    found = rows_with_keys(
        IssueGrouping,
        ["project", "grouping_version", "key_hash"],
        [
            (shop.id, grouping.grouping_version, grouping.key_hash),
            (shop.id, grouping.grouping_version + 1, grouping.key_hash),
        ],
        columns=["issue", "key_hash"],
    )
    assert found == [(grouping.issue_id, grouping.key_hash)]


def test_a_longer_value_does_not_match_a_key_it_starts_with_and_repeats_find_a_row_once(db):
    shop = keys.create_project(name="Shop", slug="shop")
    store_events(shop, [make_event("Order 1 not found")])
    digest_all()
    grouping = IssueGrouping.objects.get()
    version = grouping.grouping_version
    found = rows_with_keys(
        IssueGrouping,
        ["project", "grouping_version", "key_hash"],
        [(shop.id, version, grouping.key_hash + "ff"), (shop.id, version, grouping.key_hash)] * 2,
        columns=["issue"],
    )
    assert found == [(grouping.issue_id,)]  # the 34-character hash is not cut to the column's 32
