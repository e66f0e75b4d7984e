"""Read-side helpers shared by the API and the pages."""

from __future__ import annotations

from django.db.models import QuerySet

from incidents.models import status_rank_expression

ORDERING_FIELDS = ["created_at", "updated_at", "severity", "status", "title"]


def apply_ordering(queryset: QuerySet, terms: list[str]) -> QuerySet:
    """Order by ``terms`` (validated names, ``-`` for descending).

    Severity sorts by rank (SEV1 first) because the codes sort that way;
    status sorts by lifecycle; without terms: search rank when searching, else
    newest first. ``id`` breaks ties so pages never overlap.
    """
    if not terms:
        terms = ["-search_rank", "-created_at"] if "search_rank" in queryset.query.annotations else ["-created_at"]
    resolved = []
    for term in terms:
        if term.lstrip("-") == "status":
            queryset = queryset.annotate(status_rank=status_rank_expression())
            term = term.replace("status", "status_rank")
        resolved.append(term)
    tiebreak = "-id" if resolved[-1].startswith("-") else "id"
    return queryset.order_by(*resolved, tiebreak)
