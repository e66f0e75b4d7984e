"""A stand-in for a Celery worker in the concurrency tests: runs the beat tick's escalation work
(``escalation.run_due``) at a given instant, in a process of its own, against the test database.

    python -m tests.oncall.escalation_worker stall <ISO instant>
    python -m tests.oncall.escalation_worker steps <ISO instant> [<ISO instant> …]

``stall``: stop inside the first step, after its pages are written and before the commit, and wait
to be killed (the test kills it there: a worker dying mid-step). ``steps``: for each instant, wait
for a line on stdin (the test's "go", so every worker runs that instant together), run, and print
``ADVANCED <n>``.
"""

from __future__ import annotations

import os
import sys
import time
from datetime import datetime

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tracepoint.settings")
django.setup()

from incidents.oncall import escalation, paging  # noqa: E402  (after django.setup)


def main() -> None:
    if sys.argv[1] == "steps":
        for instant in sys.argv[2:]:
            sys.stdin.readline()
            advanced = escalation.run_due(now=datetime.fromisoformat(instant), batch=5)
            print(f"ADVANCED {advanced}", flush=True)
        return
    now = datetime.fromisoformat(sys.argv[2])
    if sys.argv[1] == "stall":
        original = paging.create_pages_many

        def stalled(*args, **kwargs):
            pages = original(*args, **kwargs)
            print("STALLED", flush=True)
            time.sleep(120)
            return pages

        paging.create_pages_many = stalled
    advanced = escalation.run_due(now=now, batch=5)
    print(f"ADVANCED {advanced}", flush=True)


if __name__ == "__main__":
    main()
