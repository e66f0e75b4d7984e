#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tracepoint.settings")
    from django.core.management import execute_from_command_line

    from tracepoint.lib.startup import exit_on_setting_error

    exit_on_setting_error(lambda: __import__("django.conf").conf.settings.INSTALLED_APPS)
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
