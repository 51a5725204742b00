"""What the inference services share."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models

from studio.models import Project


def created_for_token(
    model: type[models.Model], project: Project, client_token: str | None, fingerprint: str
):
    """The row an earlier request with this ``client_token`` created (None without a token or row);
    a different request reusing the token is refused."""
    if not client_token:
        return None
    existing = model.objects.filter(project=project, client_token=client_token).first()
    if existing is not None and existing.request_sha256 != fingerprint:
        what = model._meta.verbose_name
        raise ValidationError(
            {"client_token": f"This client_token was used for another request ({what} {existing.name})."}
        )
    return existing


def created_by_the_other_request(
    model: type[models.Model], project: Project, name: str, client_token: str | None, fingerprint: str
):
    """After an insert lost a race on the name: the winner's row when both carried the same
    ``client_token``, else a ValidationError on the name."""
    existing = created_for_token(model, project, client_token, fingerprint)
    if existing is not None:
        return existing
    what = model._meta.verbose_name
    article = "An" if what[0] in "aeiou" else "A"
    raise ValidationError({"name": f"{article} {what} named {name!r} already exists."}) from None
