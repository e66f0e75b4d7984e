"""The dashboard's one set of form components (issue 17): every ``{{ form }}`` renders through
``templates/forms/form.html`` and each field through ``templates/forms/field.html`` (label without a
colon, a required mark, help text, inline errors next to the field, the widget styled by the
dashboard's CSS). Set as ``FORM_RENDERER``, so no form falls back to Django's default markup."""

from __future__ import annotations

import functools
from zoneinfo import available_timezones

from django import forms
from django.forms.renderers import TemplatesSetting


class FormRenderer(TemplatesSetting):
    form_template_name = "forms/form.html"
    field_template_name = "forms/field.html"


# --- the time-zone picker ------------------------------------------------------------------------

_TOP_ZONES = ("UTC",)


@functools.cache
def time_zone_choices() -> list[tuple[str, list[tuple[str, str]] | str]]:
    """Every IANA zone of this machine, "UTC" first, then grouped by region ("Europe", "America"…)
    as ``<optgroup>``s, each zone labelled with its city ("Europe/Paris" → "Paris")."""
    regions: dict[str, list[tuple[str, str]]] = {}
    for name in sorted(available_timezones()):
        region, _, rest = name.partition("/")
        if not rest or region in ("Etc", "SystemV", "US", "posix", "right") or name in _TOP_ZONES:
            continue  # aliases and POSIX-style names: one way to say each zone
        regions.setdefault(region, []).append((name, rest.replace("_", " ").replace("/", " / ")))
    return [(zone, zone) for zone in _TOP_ZONES] + sorted(regions.items())


@functools.cache
def time_zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


class TimeZoneField(forms.ChoiceField):
    """A ``<select>`` of time zones (``time_zone_choices``) that still accepts any valid IANA name
    (an alias already stored, such as "Etc/UTC" or "US/Eastern", shows as its own option)."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("initial", "UTC")
        kwargs.setdefault("help_text", "Times on this page are shown and entered in this zone.")
        super().__init__(choices=time_zone_choices, **kwargs)

    def valid_value(self, value) -> bool:
        return str(value) in time_zone_names()

    def prepare_value(self, value):
        if value and str(value) not in {zone for zone, _ in self._flat()}:
            self.choices = [(value, value), *time_zone_choices()]
        return value

    def _flat(self):
        for key, value in self.choices:
            if isinstance(value, (list, tuple)):
                yield from value
            else:
                yield key, value
