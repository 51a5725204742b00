"""Forms of the shell pages: they parse and shape input; the services decide what is allowed."""

from __future__ import annotations

from collections.abc import Mapping

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError

from studio.roles import Role


class ServiceErrorsMixin:
    """Puts a service's ValidationError on the form: each message on its field, the rest on top.

    ``service_fields`` maps a service's field name to this form's field where they differ.
    """

    service_fields: Mapping[str, str] = {}

    def add_service_errors(self, error: ValidationError) -> None:
        if not hasattr(error, "error_dict"):
            self.add_error(None, error.messages)  # type: ignore[attr-defined]
            return
        for name, messages in error.message_dict.items():
            field = self.service_fields.get(name, name)
            self.add_error(field if field in self.fields else None, messages)  # type: ignore[attr-defined]


class ProjectCreateForm(ServiceErrorsMixin, forms.Form):
    name = forms.CharField(
        max_length=63,
        help_text="Lower-case letters, digits and hyphens, e.g. fraud-detection.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "placeholder": "fraud-detection"}),
    )
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))


class MemberAddForm(ServiceErrorsMixin, forms.Form):
    username = forms.CharField(max_length=150, widget=forms.TextInput(attrs={"autocomplete": "off"}))
    role = forms.ChoiceField(choices=Role.choices, initial=Role.VIEWER)

    def clean_username(self) -> object:
        """The user the name refers to: the service takes users, people type names."""
        username = self.cleaned_data["username"].strip()
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if user is None:
            raise ValidationError(f"No active user named {username!r}.")
        return user


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class ArtifactUploadForm(ServiceErrorsMixin, forms.Form):
    file = forms.FileField()
    path = forms.CharField(
        required=False,
        max_length=900,
        help_text="Where to store it inside the project, e.g. data/train.csv (default: uploads/<file name>).",
    )

    def upload_path(self) -> str:
        return self.cleaned_data["path"].strip() or f"uploads/{self.cleaned_data['file'].name}"


class ApiKeyCreateForm(ServiceErrorsMixin, forms.Form):
    name = forms.CharField(
        max_length=100,
        help_text="What the key is for, e.g. 'laptop notebook'.",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
