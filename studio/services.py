"""Use cases of the platform: projects, members, API keys, the audit log and artifact uploads."""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import timedelta
from typing import BinaryIO

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from studio.artifacts import (
    ArtifactError,
    StoredObject,
    check_project_uri,
    join_uri,
    project_prefix,
    store_for,
)
from studio.models import ApiKey, Artifact, AuditEvent, Membership, Project
from studio.roles import Role

API_KEY_PREFIX = "stk_"
# last_used_at is for people ("used 3 minutes ago"), not accounting: write it at most once a minute.
API_KEY_TOUCH_INTERVAL = timedelta(minutes=1)


def audit_record(
    *,
    actor: AbstractBaseUser | None,
    action: str,
    target_type: str,
    target_name: str,
    project: Project | None = None,
    details: dict | None = None,
) -> AuditEvent:
    return AuditEvent.objects.create(
        project=project,
        actor=actor if actor is not None and actor.is_authenticated else None,
        action=action,
        target_type=target_type,
        target_name=target_name,
        details=details or {},
    )


@transaction.atomic
def project_create(*, name: str, user: AbstractBaseUser, description: str = "") -> Project:
    project = Project(name=name, description=description, created_by=user)
    project.full_clean()
    try:
        with transaction.atomic():
            project.save()
    except IntegrityError as exc:
        raise ValidationError({"name": f"A project named {name!r} already exists."}) from exc
    Membership.objects.create(project=project, user=user, role=Role.ADMIN)
    audit_record(actor=user, action="create", target_type="project", target_name=name, project=project)
    return project


@transaction.atomic
def project_update(*, project: Project, actor: AbstractBaseUser, description: str) -> Project:
    changed = {"description": {"from": project.description, "to": description}}
    project.description = description
    project.save(update_fields=["description"])
    audit_record(
        actor=actor,
        action="update",
        target_type="project",
        target_name=project.name,
        project=project,
        details=changed,
    )
    return project


@transaction.atomic
def membership_set(
    *, project: Project, user: AbstractBaseUser, role: str, actor: AbstractBaseUser
) -> Membership:
    if role not in Role.values:
        raise ValidationError({"role": f"Unknown role {role!r}; use one of {', '.join(Role.values)}."})
    membership, created = Membership.objects.update_or_create(
        project=project, user=user, defaults={"role": role}
    )
    _ensure_an_admin_remains(project)
    audit_record(
        actor=actor,
        action="add-member" if created else "change-role",
        target_type="member",
        target_name=user.get_username(),
        project=project,
        details={"role": role},
    )
    return membership


@transaction.atomic
def membership_remove(*, project: Project, user: AbstractBaseUser, actor: AbstractBaseUser) -> None:
    deleted, _ = Membership.objects.filter(project=project, user=user).delete()
    if not deleted:
        raise ValidationError({"username": f"{user.get_username()} is not a member of {project.name}."})
    _ensure_an_admin_remains(project)
    audit_record(
        actor=actor,
        action="remove-member",
        target_type="member",
        target_name=user.get_username(),
        project=project,
    )


def _ensure_an_admin_remains(project: Project) -> None:
    if not Membership.objects.filter(project=project, role=Role.ADMIN).exists():
        raise ValidationError({"role": "A project must keep at least one admin."})


def _hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def api_key_create(*, user: AbstractBaseUser, name: str, invoke_only: str = "") -> tuple[ApiKey, str]:
    """Create a key and return it with its plain text, which is never stored and never shown again.

    ``invoke_only`` ("project/endpoint") limits the key to invoking that one endpoint.
    """
    name = name.strip()
    if not name:
        raise ValidationError({"name": "Give the key a name, so you can tell it apart later."})
    if invoke_only and not re.match(r"^[a-z0-9-]{1,63}/[A-Za-z0-9-]{1,63}$", invoke_only):
        raise ValidationError({"invoke_only": "Name the endpoint as project/endpoint."})
    key = API_KEY_PREFIX + secrets.token_urlsafe(32)
    api_key = ApiKey.objects.create(
        user=user, name=name[:100], prefix=key[:10], key_hash=_hash_key(key), invoke_only=invoke_only
    )
    audit_record(actor=user, action="create", target_type="api-key", target_name=api_key.name)
    return api_key, key


def api_key_revoke(*, api_key: ApiKey, actor: AbstractBaseUser) -> ApiKey:
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
        audit_record(actor=actor, action="revoke", target_type="api-key", target_name=api_key.name)
    return api_key


def api_key_authenticate(key: str) -> ApiKey | None:
    """The active key matching ``key``, with its last-used time brought up to date."""
    if not key.startswith(API_KEY_PREFIX):
        return None
    api_key = (
        ApiKey.objects.select_related("user")
        .filter(key_hash=_hash_key(key), revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    if api_key is None:
        return None
    now = timezone.now()
    if api_key.last_used_at is None or now - api_key.last_used_at > API_KEY_TOUCH_INTERVAL:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now
    return api_key


def artifact_record(
    *, project: Project, stored: StoredObject, origin: str, user: AbstractBaseUser | None = None
) -> Artifact:
    artifact, _ = Artifact.objects.update_or_create(
        project=project,
        uri=stored.uri,
        defaults={
            "size": stored.size,
            "sha256": stored.sha256,
            "origin": origin,
            "created_by": user if user is not None and user.is_authenticated else None,
        },
    )
    return artifact


def artifact_upload(
    *, project: Project, user: AbstractBaseUser | None, path: str, stream: BinaryIO, origin: str = "upload"
) -> Artifact:
    """Store ``stream`` at ``<project prefix>/<path>`` and record it with its SHA-256."""
    clean = path.strip().strip("/")
    if not clean or any(part in {"", ".", ".."} for part in clean.split("/")):
        raise ValidationError({"path": "Give a relative path such as data/train.csv, without '.' or '..'."})
    uri = join_uri(project_prefix(project.name), clean)
    try:
        check_project_uri(project.name, uri)
        stored = store_for(uri).put(uri, stream)
    except ArtifactError as exc:
        raise ValidationError({"path": str(exc)}) from exc
    artifact = artifact_record(project=project, stored=stored, origin=origin, user=user)
    audit_record(
        actor=user,
        action="upload",
        target_type="artifact",
        target_name=clean,
        project=project,
        details={"uri": stored.uri, "sha256": stored.sha256, "size": stored.size},
    )
    return artifact
