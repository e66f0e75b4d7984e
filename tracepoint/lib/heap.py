"""The cyclic garbage collector of long-running server processes (gunicorn workers, Celery workers).

Python's collector walks every container object it tracks, and a server holds a few hundred thousand
of them that live as long as the process: Django, its settings, URL patterns, models and templates.
Work that keeps many young objects alive for a while (digestion holds a batch of decoded events,
hundreds of dicts and lists each) triggers full collections, and each one walked all of them again:
in a bench run, a sixth of the Celery pool processes' CPU was the collector.

``settle()`` moves everything alive at that moment out of the collector's reach for good (``gc.freeze``:
those objects are still freed by reference counting, only never walked for cycles) and lets more
young objects build up between collections. Called in a parent before it forks, it also keeps the
children from writing to the parent's pages when they collect, so they share more memory.
"""

from __future__ import annotations

import gc

# Young objects allocated (net of those freed) before a collection of the youngest generation; the
# default is 700. The older generations keep their defaults.
YOUNG_THRESHOLD = 10_000


def settle() -> None:
    """Freeze the objects alive now (start-up's) and raise the young generation's threshold."""
    gc.collect()  # what start-up left as garbage is freed, not frozen
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
