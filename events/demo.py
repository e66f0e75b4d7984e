"""Demo issues for `manage.py seed_demo`: a "Demo shop" project with ~20 issues over the last week.

Events go through ``ingest.store_events`` and are grouped right away with
``digestion.sweep_undigested``, so the demo looks right without a running worker.
"""

from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model

from events import digestion, impact, ingest, keys, lifecycle
from events.ingest import NewEvent
from events.models import AlertRule, Event, EventType, IssueStatus, Project

PROJECT_NAME = "Demo shop"
PROJECT_SLUG = "demo-shop"
SERVICES = ["checkout", "api", "web"]
RELEASES = ["shop@2.3.0", "shop@2.3.1", "shop@2.4.0", "shop@2.4.1"]
BROWSERS = ["Chrome 126", "Firefox 127", "Safari 17", "Edge 126"]
OSES = ["Windows 11", "macOS 14", "iOS 17", "Android 14", "Ubuntu 22.04"]

# (service, exception type, message template, route, frames as (module, function, filename, lineno, context), weight)
# The last frame is the crash site; {n}/{id}/{user} vary per event and are stripped by grouping.
_Frame = tuple[str, str, str, int, str]
PROBLEMS: list[tuple[str, str, str, str, list[_Frame], int]] = [
    (
        "checkout",
        "ValueError",
        "Invalid quantity {n} for SKU-{id}",
        "/cart/add",
        [
            ("django.core.handlers.base", "_get_response", "django/core/handlers/base.py", 197, ""),
            ("shop.cart.views", "add_item", "shop/cart/views.py", 48, "quantity = parse_quantity(request.POST['qty'])"),
            (
                "shop.cart.utils",
                "parse_quantity",
                "shop/cart/utils.py",
                12,
                "raise ValueError(f'Invalid quantity {raw} for {sku}')",
            ),
        ],
        40,
    ),
    (
        "checkout",
        "KeyError",
        "'shipping_address'",
        "/checkout/confirm",
        [
            ("django.core.handlers.base", "_get_response", "django/core/handlers/base.py", 197, ""),
            ("shop.checkout.views", "confirm", "shop/checkout/views.py", 88, "address = session['shipping_address']"),
        ],
        35,
    ),
    (
        "checkout",
        "PaymentDeclined",
        "Card declined for order {id} (code {n})",
        "/checkout/pay",
        [
            ("shop.checkout.views", "pay", "shop/checkout/views.py", 131, "result = gateway.charge(order, token)"),
            (
                "shop.payments.gateway",
                "charge",
                "shop/payments/gateway.py",
                64,
                "raise PaymentDeclined(response.reason)",
            ),
        ],
        30,
    ),
    (
        "checkout",
        "TimeoutError",
        "Payment provider did not answer within {n} ms",
        "/checkout/pay",
        [
            (
                "shop.payments.gateway",
                "charge",
                "shop/payments/gateway.py",
                58,
                "response = self.session.post(url, json=body, timeout=5)",
            ),
            ("requests.adapters", "send", "requests/adapters.py", 532, ""),
        ],
        25,
    ),
    (
        "checkout",
        "IntegrityError",
        'duplicate key value violates unique constraint "order_number_key" ({id})',
        "/checkout/confirm",
        [
            (
                "shop.orders.services",
                "create_order",
                "shop/orders/services.py",
                40,
                "order = Order.objects.create(number=number, cart=cart)",
            ),
            ("django.db.backends.utils", "_execute", "django/db/backends/utils.py", 105, ""),
        ],
        12,
    ),
    (
        "checkout",
        "DoesNotExist",
        "Coupon matching query does not exist (code {n})",
        "/cart/coupon",
        [
            ("shop.cart.views", "apply_coupon", "shop/cart/views.py", 77, "coupon = Coupon.objects.get(code=code)"),
        ],
        14,
    ),
    (
        "api",
        "ZeroDivisionError",
        "division by zero",
        "/api/v2/reports/conversion",
        [
            ("shop.api.reports", "conversion_rate", "shop/api/reports.py", 23, "return orders / visits"),
        ],
        22,
    ),
    (
        "api",
        "AttributeError",
        "'NoneType' object has no attribute 'email'",
        "/api/v2/orders/{id}",
        [
            ("shop.api.orders", "retrieve", "shop/api/orders.py", 52, "data['customer'] = order.customer.email"),
        ],
        28,
    ),
    (
        "api",
        "OperationalError",
        "could not connect to server: Connection refused (host 10.0.{n}.4)",
        "/api/v2/products",
        [
            ("shop.api.products", "list_products", "shop/api/products.py", 31, "return list(queryset[:limit])"),
            ("psycopg.connection", "connect", "psycopg/connection.py", 748, ""),
        ],
        18,
    ),
    (
        "api",
        "ValidationError",
        "Field 'price' must be positive, got -{n}",
        "/api/v2/products/{id}",
        [
            (
                "shop.api.products",
                "update_product",
                "shop/api/products.py",
                77,
                "serializer.is_valid(raise_exception=True)",
            ),
            ("rest_framework.serializers", "is_valid", "rest_framework/serializers.py", 235, ""),
        ],
        16,
    ),
    (
        "api",
        "PermissionError",
        "User {user} may not export customers",
        "/api/v2/customers/export",
        [
            ("shop.api.customers", "export", "shop/api/customers.py", 19, "check_permission(request.user, 'export')"),
            (
                "shop.auth.checks",
                "check_permission",
                "shop/auth/checks.py",
                8,
                "raise PermissionError(f'User {user} may not {action} customers')",
            ),
        ],
        10,
    ),
    (
        "api",
        "RecursionError",
        "maximum recursion depth exceeded while calling a Python object",
        "/api/v2/categories/tree",
        [
            (
                "shop.catalog.tree",
                "build_tree",
                "shop/catalog/tree.py",
                14,
                "children = [build_tree(c) for c in node.children]",
            ),
            (
                "shop.catalog.tree",
                "build_tree",
                "shop/catalog/tree.py",
                14,
                "children = [build_tree(c) for c in node.children]",
            ),
        ],
        6,
    ),
    (
        "api",
        "JSONDecodeError",
        "Expecting value: line 1 column {n} (char {n})",
        "/api/v2/webhooks/stripe",
        [
            ("shop.webhooks.stripe", "receive", "shop/webhooks/stripe.py", 27, "payload = json.loads(request.body)"),
            ("json.decoder", "raw_decode", "json/decoder.py", 355, ""),
        ],
        9,
    ),
    (
        "api",
        "UnicodeDecodeError",
        "'utf-8' codec can't decode byte 0x{n} in position {n}",
        "/api/v2/imports",
        [
            ("shop.imports.csv", "read_rows", "shop/imports/csv.py", 33, "text = upload.read().decode('utf-8')"),
        ],
        7,
    ),
    (
        "web",
        "TypeError",
        "Cannot read properties of undefined (reading 'price')",
        "/product/{id}",
        [
            ("", "ProductCard", "webpack:///src/components/ProductCard.tsx", 42, "<Price item={variant} />"),
            ("", "renderPrice", "webpack:///src/components/Price.tsx", 18, "return formatMoney(item.price, currency);"),
        ],
        45,
    ),
    (
        "web",
        "ReferenceError",
        "gtag is not defined",
        "/checkout",
        [
            ("", "trackPurchase", "webpack:///src/analytics.ts", 9, "gtag('event', 'purchase', payload);"),
        ],
        20,
    ),
    (
        "web",
        "ChunkLoadError",
        "Loading chunk {n} failed.",
        "/account",
        [
            (
                "",
                "loadAccountPage",
                "webpack:///src/routes.tsx",
                31,
                "const Account = lazy(() => import('./pages/Account'));",
            ),
            ("", "requireEnsure", "webpack:///webpack/runtime/ensure chunk", 6, ""),
        ],
        15,
    ),
    (
        "web",
        "NetworkError",
        "Failed to fetch /api/v2/cart ({n} ms)",
        "/cart",
        [
            ("", "fetchCart", "webpack:///src/api/cart.ts", 14, "const res = await fetch('/api/v2/cart');"),
        ],
        16,
    ),
    (
        "web",
        "RangeError",
        "Invalid time value",
        "/orders/{id}",
        [
            ("", "OrderRow", "webpack:///src/components/OrderRow.tsx", 23, "<td>{formatDate(order.shippedAt)}</td>"),
            ("", "formatDate", "webpack:///src/utils/date.ts", 7, "return format(new Date(value), 'PP');"),
        ],
        11,
    ),
    (
        "web",
        "SyntaxError",
        "Unexpected token '<' in JSON at position {n}",
        "/search",
        [
            ("", "search", "webpack:///src/api/search.ts", 21, "return res.json();"),
        ],
        12,
    ),
    # Never drawn at random (weight 0): it starts two minutes after the last api
    # deploy, so that deploy is named as the one that introduced it.
    (
        "api",
        "TypeError",
        "unsupported operand type(s) for +: 'NoneType' and 'Decimal'",
        "/api/v1/prices",
        [
            ("django.core.handlers.base", "_get_response", "django/core/handlers/base.py", 197, ""),
            ("shop.api.pricing", "apply_discount", "shop/api/pricing.py", 57, "total = price + discount"),
        ],
        0,
    ),
]
INTRODUCED = len(PROBLEMS) - 1
INTRODUCED_EVENTS = 36
# Indexes into PROBLEMS: quiet for days and resolved; one of them comes back.
RESOLVED = {4, 11, 13, 18}
REGRESSED = 18
IGNORED = {16}
EVENT_COUNT = 420
SLICE = timedelta(hours=6)


def is_empty() -> bool:
    return not Project.objects.exists() and not Event.objects.exists()


def _vary(template: str, rng: random.Random) -> str:
    return (
        template.replace("{n}", str(rng.randint(2, 999)))
        .replace("{id}", str(rng.randint(10_000, 99_999)))
        .replace("{user}", str(rng.randint(1, 400)))
    )


def _event(problem_index: int, moment: datetime, rng: random.Random, *, now: datetime) -> NewEvent:
    service, exc_type, template, route, frames, _ = PROBLEMS[problem_index]
    value = _vary(template, rng)
    javascript = service == "web"
    frame_data: list[dict[str, Any]] = [
        {
            "module": module,
            "function": function,
            "filename": filename,
            "lineno": lineno,
            # Framework and library frames are not the shop's code.
            "in_app": filename.startswith(("shop/", "webpack:///src/")),
            **({"context_line": context} if context else {}),
        }
        for module, function, filename, lineno, context in frames
    ]
    # Releases follow each other over the week, the newest in the last days.
    days_ago = (now - moment).total_seconds() / 86400
    release = RELEASES[max(0, min(len(RELEASES) - 1, int((7 - days_ago) / 7 * len(RELEASES))))]
    environment = rng.choices(["production", "staging"], weights=[9, 1])[0]
    tags = {"environment": environment, "release": release, "server_name": f"{service}-{rng.randint(1, 3)}"}
    if javascript:
        tags |= {"browser": rng.choice(BROWSERS), "os": rng.choice(OSES)}
    else:
        tags |= {"runtime": rng.choice(["CPython 3.11.9", "CPython 3.12.4"])}
    return NewEvent(
        event_id=uuid.UUID(int=rng.getrandbits(128), version=4),
        event_type=EventType.ERROR,
        service=service,
        timestamp=moment,
        level=rng.choices(["error", "fatal", "warning"], weights=[8, 1, 1])[0] if not javascript else "error",
        message=f"{exc_type}: {value}",
        release=release,
        environment=environment,
        route=route,
        user_id=f"u{rng.randint(1, 150)}" if rng.random() < 0.8 else "",
        platform="javascript" if javascript else "python",
        data={
            "exception": [{"type": exc_type, "value": value, "stacktrace": {"frames": frame_data}}],
            "tags": tags,
        },
    )


def _resolve_some(project: Project, *, by, at: datetime) -> None:
    issues = {issue.title.split(":")[0]: issue for issue in project.issues.all()}
    for index in sorted(RESOLVED | IGNORED):
        issue = issues.get(PROBLEMS[index][1])
        if issue is not None:
            status = IssueStatus.IGNORED if index in IGNORED else IssueStatus.RESOLVED
            lifecycle.set_issue_status(issue.pk, status=status, by=by, now=at)


def seed(*, now: datetime, stdout, rng: random.Random | None = None) -> None:
    rng = rng or random.Random(7)  # noqa: S311 - demo data, the same every time
    project = Project.objects.filter(slug=PROJECT_SLUG).first() or keys.create_project(
        name=PROJECT_NAME, slug=PROJECT_SLUG, services=SERVICES
    )
    week = 7 * 24 * 60
    weights = [problem[-1] for problem in PROBLEMS]
    resolve_at = now - timedelta(days=3)
    regression_from = now - timedelta(hours=20)
    errors = []
    for _ in range(EVENT_COUNT):
        index = rng.choices(range(len(PROBLEMS)), weights=weights)[0]
        moment = now - timedelta(minutes=rng.randint(5, week))
        # Resolved issues stay quiet after the fix, except the regression's comeback.
        if index in RESOLVED and moment >= resolve_at and (index != REGRESSED or moment < regression_from):
            moment = resolve_at - timedelta(minutes=rng.randint(30, 3 * 24 * 60))
        errors.append(_event(index, moment, rng, now=now))
    deploys = [
        NewEvent(
            event_id=uuid.UUID(int=rng.getrandbits(128), version=4),
            event_type=EventType.DEPLOY,
            service=service,
            timestamp=now - timedelta(hours=hours, minutes=rng.randint(0, 60)),
            level="info",
            message=f"Deployed {release}",
            release=release,
            environment="production",
            data={"tags": {"release": release}},
        )
        for service, release, hours in [
            ("api", RELEASES[1], 5 * 24),
            ("web", RELEASES[2], 3 * 24),
            ("checkout", RELEASES[2], 3 * 24),
            ("api", RELEASES[3], 8),
        ]
    ]
    last_api_deploy = deploys[-1].timestamp
    errors += [
        _event(INTRODUCED, min(now, last_api_deploy + timedelta(minutes=2 + 12 * n)), rng, now=now)
        for n in range(INTRODUCED_EVENTS)
    ]
    # Replay the week in six-hour slices, each received and digested at its end, so the history
    # reads in order: first seen, resolved three days ago, and the regression after that.
    by = get_user_model().objects.filter(is_active=True, username="olivia").first()
    pending = sorted(errors + deploys, key=lambda event: event.timestamp)
    slice_end, resolved = now - timedelta(days=7) + SLICE, False
    while pending:
        if not resolved and slice_end > resolve_at:
            _resolve_some(project, by=by, at=resolve_at)
            resolved = True
        batch = [event for event in pending if event.timestamp < slice_end]
        pending = pending[len(batch) :]
        if batch:
            received = min(slice_end, now)
            ingest.store_events(project, batch, now=received)
            digestion.sweep_undigested(older_than_seconds=0, limit=10_000, now=received)
        slice_end += SLICE
    # The last api deploy resolves the api issues that stayed quiet after it.
    lifecycle.resolve_quiet_issues_after_deploys(now=now)
    impact.refresh_active(now=now)  # rates and recency as of now, not as of each slice
    AlertRule.objects.get_or_create(
        project=project,
        name="New and returning problems",
        kind=AlertRule.Kind.NEW_ISSUE,
        defaults={"cooldown_minutes": 60},
    )
    AlertRule.objects.get_or_create(
        project=project,
        name="Checkout bursts",
        kind=AlertRule.Kind.ISSUE_THRESHOLD,
        defaults={"threshold_count": 20, "window_minutes": 5, "open_incident": True, "incident_severity": "SEV2"},
    )
    stdout.write(
        f"Events: project {PROJECT_NAME!r} with {project.issues.count()} issues "
        f"from {len(errors)} errors and {len(deploys)} deploys."
    )
