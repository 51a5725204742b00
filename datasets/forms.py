"""Forms of the dataset pages: they shape input; the services decide what is allowed."""

from __future__ import annotations

from django import forms

from datasets.schema import COLUMN_TYPES
from frontend.forms import ServiceErrorsMixin

TYPE_CHOICES = [(kind, kind) for kind in COLUMN_TYPES]


class UploadFileForm(ServiceErrorsMixin, forms.Form):
    """The upload page without JavaScript: the whole file in one request, then the same review."""

    file = forms.FileField(
        help_text="CSV, TSV, Parquet, JSON Lines, Excel (.xlsx), or a zip / tar.gz of images or text files."
    )


class CommitForm(ServiceErrorsMixin, forms.Form):
    """Name the dataset and confirm (or change) each column's type; one select per column."""

    dataset = forms.CharField(
        max_length=63,
        label="Dataset",
        help_text="A new or existing dataset of this project; letters, digits and hyphens.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "placeholder": "customers"}),
    )
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, schema: list[dict], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.schema = schema
        for index, column in enumerate(schema):
            self.fields[self.type_field(index)] = forms.ChoiceField(
                choices=TYPE_CHOICES, initial=column["type"], label=column["name"]
            )

    @staticmethod
    def type_field(index: int) -> str:
        return f"type_{index}"

    def type_fields(self) -> list[forms.BoundField]:
        return [self[self.type_field(index)] for index in range(len(self.schema))]

    def edited_schema(self) -> list[dict]:
        return [
            {"name": column["name"], "type": self.cleaned_data[self.type_field(index)]}
            for index, column in enumerate(self.schema)
        ]
