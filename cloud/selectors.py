"""Reads of a project's AWS settings: the saved row, or the defaults a new one would start from."""

from __future__ import annotations

from cloud.models import AwsSettings
from studio.models import Project

MASK = "…"


def aws_settings_get(project: Project) -> AwsSettings:
    """The project's saved settings, or an unsaved row with the defaults (its ``pk`` is None)."""
    found = AwsSettings.objects.filter(project=project).select_related("updated_by").first()
    if found is None:
        found = AwsSettings(project=project)
    found.project = project  # the caller's instance, with the user's role attached
    return found


def masked_access_key(access_key_id: str) -> str:
    """Enough of an access key ID to tell keys apart, e.g. ``AKIA…WXYZ``; never the whole of it."""
    if not access_key_id:
        return ""
    if len(access_key_id) >= 12:
        return f"{access_key_id[:4]}{MASK}{access_key_id[-4:]}"
    return f"{MASK}{access_key_id[-2:]}"
