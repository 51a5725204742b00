"""The "Run on SageMaker" (or "Run on this machine") form of a job's page: the same job again under
a new name on the other backend, for ``job_clone``."""

from __future__ import annotations

from django import forms

from frontend.forms import ServiceErrorsMixin
from jobs.models import Backend


class JobCloneForm(ServiceErrorsMixin, forms.Form):
    name = forms.CharField(
        max_length=63,
        label="New job's name",
        help_text="The same definition runs under this name; nothing else changes.",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    backend = forms.ChoiceField(choices=Backend.choices, widget=forms.HiddenInput)
