"""The intake reads its limits without call-site defaults; a missing one is an error at startup, not at the
first alert."""

from django.conf import settings
from django.core.checks import Error, register

from incidents.intake.limits import RATE_LIMIT_SCOPE, RATE_LIMIT_SETTING, REQUIRED_SETTINGS


@register()
def check_intake_settings(app_configs, **kwargs):
    errors = [
        Error(f"TRACEPOINT has no {name!r}.", hint=f"Add {line} to TRACEPOINT.", id="intake.E001")
        for name, line in REQUIRED_SETTINGS.items()
        if name not in settings.TRACEPOINT
    ]
    if RATE_LIMIT_SCOPE not in settings.TRACEPOINT["RATE_LIMITS"]:
        errors.append(
            Error(
                f"TRACEPOINT['RATE_LIMITS'] has no {RATE_LIMIT_SCOPE!r} scope.",
                hint=f'Add {RATE_LIMIT_SETTING} to TRACEPOINT["RATE_LIMITS"].',
                id="intake.E002",
            )
        )
    return errors
