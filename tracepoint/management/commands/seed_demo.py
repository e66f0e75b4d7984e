"""Load demo data. Each app may provide ``<app>/demo.py`` with

    def is_empty() -> bool: ...            # nothing of this app's demo data exists
    def seed(*, now, stdout) -> None: ...  # create it

``--if-empty`` (used by ``make run``) loads only when every seeder reports an
empty database, so a real installation is never touched.
"""

import importlib

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone


def seeders() -> list:
    found = []
    for config in apps.get_app_configs():
        try:
            found.append(importlib.import_module(f"{config.name}.demo"))
        except ModuleNotFoundError as exc:
            if exc.name != f"{config.name}.demo":
                raise
    return found


class Command(BaseCommand):
    help = "Load demo data (incidents, issues, monitors, status pages) for a first look."

    def add_arguments(self, parser):
        parser.add_argument("--if-empty", action="store_true", help="Do nothing unless the database holds no data.")

    def handle(self, *args, if_empty=False, **options):
        modules = seeders()
        if not modules:
            self.stdout.write("No demo data to load: no app provides a demo module yet.")
            return
        if if_empty and not all(module.is_empty() for module in modules):
            self.stdout.write("Database already holds data; demo data not loaded.")
            return
        now = timezone.now()
        with transaction.atomic():
            for module in modules:
                module.seed(now=now, stdout=self.stdout)
        self.stdout.write(self.style.SUCCESS(f"Demo data loaded ({len(modules)} apps)."))
