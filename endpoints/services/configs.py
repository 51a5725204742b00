"""Endpoint configs: production variants (and one optional shadow) plus data capture."""

from __future__ import annotations

import re
from collections.abc import Iterable

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError

from endpoints.inference import codecs
from endpoints.models import MAX_VARIANTS, EndpointConfig, Model, ProductionVariant
from endpoints.services.common import created_by_the_other_request, created_for_token
from jobs.services.common import Errors, request_fingerprint
from studio.artifacts import ArtifactError, check_project_uri, join_uri, project_prefix, uri_is_under
from studio.instance_types import UnknownInstanceType, instance_type_get
from studio.models import NAME_REGEX, Project
from studio.services import audit_record

CAPTURE_MODES = ("Input", "Output")
DEFAULT_CSV_TYPES = [codecs.CSV]
DEFAULT_JSON_TYPES = [codecs.JSON, codecs.JSONLINES]


def default_capture_uri(project: Project) -> str:
    return join_uri(project_prefix(project.name), "data-capture")


def _check_variant(errors: Errors, project: Project, index: int, raw: dict, *, shadow: bool) -> dict | None:
    field = "shadow_variant" if shadow else f"variants[{index}]"
    name = str(raw.get("name") or raw.get("variant_name") or "")
    if not re.match(NAME_REGEX, name):
        errors.add(
            field, "name: use 1-63 letters, digits or hyphens, starting and ending with a letter or digit."
        )
        return None
    model = Model.objects.filter(project=project, name=raw.get("model", "")).first()
    if model is None:
        errors.add(field, f"{name}: no model named {raw.get('model')!r} in {project.name}.")
    elif model.needs_trust:
        errors.add(
            field,
            f"{name}: model {model.name} holds pickled files ({', '.join(model.pickle_files)}) that a "
            "project admin must trust before it can be deployed.",
        )
    instance_type = str(raw.get("instance_type", "ml.m5.large"))
    try:
        instance_type_get(instance_type, role="hosting")
    except UnknownInstanceType as exc:
        errors.add(field, f"{name}: {exc}")
    count, weight = raw.get("instance_count", 1), raw.get("initial_weight", 1.0)
    if (
        not isinstance(count, int)
        or isinstance(count, bool)
        or not 1 <= count <= settings.STUDIO_SERVING_MAX_INSTANCES
    ):
        errors.add(field, f"{name}: instance_count must be 1 to {settings.STUDIO_SERVING_MAX_INSTANCES}.")
    if not isinstance(weight, (int, float)) or isinstance(weight, bool) or weight < 0:
        errors.add(field, f"{name}: initial_weight must be a number of at least 0.")
    return {
        "name": name,
        "model": model,
        "instance_type": instance_type,
        "instance_count": count,
        "initial_weight": float(weight) if isinstance(weight, (int, float)) else 1.0,
        "is_shadow": shadow,
    }


def _check_types(errors: Errors, field: str, values: object, default: list[str]) -> list[str]:
    if values is None:
        return default
    if not isinstance(values, list) or not all(isinstance(v, str) and "/" in v for v in values):
        errors.add("data_capture", f"{field} must be a list of content types like text/csv.")
        return default
    return values


def check_data_capture(errors: Errors, project: Project, raw: dict | None) -> dict:
    if not raw:
        return {}
    enabled = raw.get("enabled", raw.get("enable_capture", True))
    percentage = raw.get("sampling_percentage", raw.get("initial_sampling_percentage", 100))
    if not isinstance(percentage, (int, float)) or isinstance(percentage, bool) or not 0 <= percentage <= 100:
        errors.add("data_capture", "sampling_percentage must be a number from 0 to 100.")
        percentage = 100
    modes = raw.get("capture_modes", list(CAPTURE_MODES))
    if not isinstance(modes, list) or not modes or any(mode not in CAPTURE_MODES for mode in modes):
        errors.add("data_capture", 'capture_modes must list "Input", "Output" or both.')
        modes = list(CAPTURE_MODES)
    destination = raw.get("destination_uri") or default_capture_uri(project)
    try:
        destination = check_project_uri(project.name, destination)
        # Written to, so only the project's own prefix: import roots are read-only inputs.
        if not uri_is_under(destination, project_prefix(project.name)):
            raise ArtifactError(
                f"{destination} is outside this project's artifacts ({project_prefix(project.name)}/)"
            )
    except ArtifactError as exc:
        errors.add("data_capture", f"destination_uri: {exc}")
    return {
        "enabled": bool(enabled),
        "sampling_percentage": float(percentage),
        "destination_uri": destination,
        "capture_input": "Input" in modes,
        "capture_output": "Output" in modes,
        "csv_content_types": _check_types(
            errors, "csv_content_types", raw.get("csv_content_types"), DEFAULT_CSV_TYPES
        ),
        "json_content_types": _check_types(
            errors, "json_content_types", raw.get("json_content_types"), DEFAULT_JSON_TYPES
        ),
    }


def endpoint_config_create(
    *,
    project: Project,
    user: AbstractBaseUser | None,
    name: str,
    variants: Iterable[dict],
    shadow_variant: dict | None = None,
    data_capture: dict | None = None,
    tags: dict[str, str] | None = None,
    client_token: str | None = None,
) -> tuple[EndpointConfig, bool]:
    """Validate and create a config. SageMaker's rules: 1-10 production variants with distinct names
    and a positive total weight; a shadow variant needs exactly one production variant."""
    variants = list(variants)
    fingerprint = request_fingerprint(
        name=name, variants=variants, shadow=shadow_variant, capture=data_capture, tags=tags
    )
    existing = created_for_token(EndpointConfig, project, client_token, fingerprint)
    if existing is not None:
        return existing, False
    errors = Errors()
    if not re.match(NAME_REGEX, name or ""):
        errors.add("name", "Use 1-63 letters, digits or hyphens, starting and ending with a letter or digit.")
    elif EndpointConfig.objects.filter(project=project, name=name).exists():
        errors.add("name", f"An endpoint config named {name!r} already exists in {project.name}.")
    if not 1 <= len(variants) <= MAX_VARIANTS:
        errors.add("variants", f"Give 1 to {MAX_VARIANTS} production variants.")
    checked = [
        _check_variant(errors, project, index, raw, shadow=False) if isinstance(raw, dict) else None
        for index, raw in enumerate(variants)
    ]
    if any(not isinstance(raw, dict) for raw in variants):
        errors.add("variants", "Each variant is an object with name, model, instance_type, instance_count.")
    if shadow_variant:
        if len(variants) != 1:
            errors.add("shadow_variant", "A shadow variant needs exactly one production variant.")
        checked.append(_check_variant(errors, project, 0, shadow_variant, shadow=True))
    names = [variant["name"] for variant in checked if variant]
    if len(names) != len(set(names)):
        errors.add("variants", "Variant names must be distinct.")
    production = [variant for variant in checked if variant and not variant["is_shadow"]]
    if production and sum(variant["initial_weight"] for variant in production) <= 0:
        errors.add("variants", "At least one production variant needs a weight above 0.")
    capture = check_data_capture(errors, project, data_capture)
    errors.raise_if_any()
    try:
        with transaction.atomic():
            config = EndpointConfig.objects.create(
                project=project,
                name=name,
                data_capture=capture,
                created_by=user,
                tags=tags or {},
                client_token=client_token or None,
                request_sha256=fingerprint,
            )
            ProductionVariant.objects.bulk_create(
                ProductionVariant(config=config, **variant) for variant in checked
            )
            audit_record(
                actor=user,
                action="create",
                target_type="endpoint-config",
                target_name=name,
                project=project,
                details={"variants": names},
            )
    except IntegrityError:
        return created_by_the_other_request(EndpointConfig, project, name, client_token, fingerprint), False
    return config, True


def endpoint_config_delete(*, config: EndpointConfig, user: AbstractBaseUser | None) -> None:
    try:
        with transaction.atomic():
            config.delete()
            audit_record(
                actor=user,
                action="delete",
                target_type="endpoint-config",
                target_name=config.name,
                project=config.project,
            )
    except ProtectedError:
        raise ValidationError(
            {"endpoint_config": f"Endpoint config {config.name} is in use; update or delete its endpoint."}
        ) from None
