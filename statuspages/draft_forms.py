"""The forms of the incident page's drafts (statuspages.drafts): pre-filled from a draft, edited by a
person, posted in one click. Each carries the public status its text was written for, so a draft that
went stale meanwhile is refused instead of published (drafts.DraftStale)."""

from __future__ import annotations

from django import forms

from statuspages.drafts import INCIDENT_IMPACTS, PublishDraft, UpdateDraft
from statuspages.models import Component, PublicStatus

SUBSCRIBERS_NOTE = "Markdown. The page's subscribers are notified."


def _status_label(status: str) -> str:
    return PublicStatus(status).label if status in PublicStatus.values else status


class PublishDraftForm(forms.Form):
    name = forms.CharField(
        max_length=200,
        label="Public name",
        help_text="The incident's title on the status page. Starts as the incident's title.",
    )
    components = forms.ModelMultipleChoiceField(
        queryset=Component.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Affected components",
    )
    impact = forms.ChoiceField(choices=INCIDENT_IMPACTS, label="Impact")
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), max_length=10_000, label="First update")
    # The public status the text was written for (drafts.DraftStale when the incident moved on).
    status = forms.ChoiceField(choices=PublicStatus.choices, widget=forms.HiddenInput)

    def __init__(self, *args, draft: PublishDraft, **kwargs):
        kwargs.setdefault("prefix", f"draft-{draft.page.public_id}")
        kwargs.setdefault(
            "initial",
            {
                "name": draft.name,
                "components": [c.pk for c in draft.selected],
                "impact": draft.impact,
                "body": draft.body,
                "status": draft.status,
            },
        )
        super().__init__(*args, **kwargs)
        self.draft = draft
        self.fields["components"].queryset = Component.objects.filter(page=draft.page).order_by("position", "pk")
        picked = ", ".join(c.name for c in draft.selected)  # escaped by the template, like every help text
        self.fields["components"].help_text = (
            f"Pre-selected: {picked}, touched by this incident (its monitors or its service)."
            if picked
            else "None of this page's components is driven by the incident's monitors: tick the affected ones."
        )
        impact_help = f"Follows the severity ({draft.incident.severity}). It sets the page's banner while it lasts."
        self.fields["impact"].help_text = impact_help
        status = _status_label(draft.status)
        self.fields["body"].help_text = f"Posted as “{status}”. {SUBSCRIBERS_NOTE} Edit it before publishing."


class UpdateDraftForm(forms.Form):
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=10_000, label="Update")
    # The public status the text was written for (drafts.DraftStale when the incident moved on).
    status = forms.ChoiceField(choices=PublicStatus.choices, widget=forms.HiddenInput)

    def __init__(self, *args, draft: UpdateDraft, **kwargs):
        kwargs.setdefault("prefix", f"update-{draft.link.public_id}")
        kwargs.setdefault("initial", {"body": draft.body, "status": draft.status})
        super().__init__(*args, **kwargs)
        self.draft = draft
        self.status_label = _status_label(draft.status)
        self.previous_label = _status_label(draft.previous) if draft.previous else ""
        self.fields["body"].label = f"“{self.status_label}” update"
        self.fields["body"].help_text = f"{SUBSCRIBERS_NOTE} Edit it before posting."
