"""Endpoints: create, update blue/green, change weights, delete. These write what should happen and
record it; the serving supervisor does the work for local endpoints, a chain of Celery tasks
(``endpoints.services.sagemaker``) for endpoints on Amazon SageMaker."""

from __future__ import annotations

import re
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from endpoints.models import Endpoint, EndpointConfig, EndpointEvent, EndpointStatus, ServingHost
from endpoints.services import sagemaker
from endpoints.services.common import created_by_the_other_request, created_for_token
from jobs.models import Backend
from jobs.services.common import Errors, request_fingerprint
from studio.models import NAME_REGEX, Project
from studio.services import audit_record


class EndpointStateError(ValidationError):
    """The endpoint's status does not allow this action now (HTTP 409)."""


def initial_weights(config: EndpointConfig) -> dict[str, float]:
    return {
        variant.name: variant.initial_weight for variant in config.variants.all() if not variant.is_shadow
    }


def endpoint_transition(
    endpoint: Endpoint, status: str, message: str, *, expected: tuple[str, ...] = (), **fields: object
) -> bool:
    """Move the endpoint to ``status`` (only from ``expected``, when given) and record the event."""
    with transaction.atomic():
        rows = Endpoint.objects.filter(pk=endpoint.pk)
        if expected:
            rows = rows.filter(status__in=expected)
        if not rows.update(status=status, updated_at=timezone.now(), **fields):
            return False
        EndpointEvent.objects.create(endpoint=endpoint, status=status, message=message[:2048])
    endpoint.status = status
    for name, value in fields.items():
        setattr(endpoint, name, value)
    return True


def serving_host_alive() -> bool:
    """Whether a serving supervisor has reported recently (``manage.py serve_models``)."""
    since = timezone.now() - timedelta(seconds=settings.STUDIO_SERVING_HOST_TIMEOUT_SECONDS)
    return ServingHost.objects.filter(heartbeat_at__gte=since).exists()


def _config_named(errors: Errors, project: Project, name: str) -> EndpointConfig | None:
    config = EndpointConfig.objects.filter(project=project, name=name).first()
    if config is None:
        errors.add("endpoint_config", f"No endpoint config named {name!r} in {project.name}.")
    return config


def endpoint_create(
    *,
    project: Project,
    user: AbstractBaseUser | None,
    name: str,
    endpoint_config: str,
    tags: dict[str, str] | None = None,
    client_token: str | None = None,
    backend: str = "",
) -> tuple[Endpoint, bool]:
    """``backend``: "local" (this machine's serving processes) or "sagemaker" (an endpoint in the
    project's AWS account); empty: ``STUDIO_DEFAULT_BACKEND``."""
    backend = backend or settings.STUDIO_DEFAULT_BACKEND
    # The backend joins the fingerprint only when it is not the local one, so retries of requests
    # made before there was a choice still match.
    extra = {"backend": backend} if backend != Backend.LOCAL else {}
    fingerprint = request_fingerprint(name=name, config=endpoint_config, tags=tags, **extra)
    existing = created_for_token(Endpoint, project, client_token, fingerprint)
    if existing is not None:
        return existing, False
    errors = Errors()
    if not re.match(NAME_REGEX, name or ""):
        errors.add("name", "Use 1-63 letters, digits or hyphens, starting and ending with a letter or digit.")
    elif Endpoint.objects.filter(project=project, name=name).exists():
        errors.add("name", f"An endpoint named {name!r} already exists in {project.name}.")
    config = _config_named(errors, project, endpoint_config)
    if backend not in Backend.values:
        errors.add("backend", f"Choose one of {', '.join(Backend.values)}.")
    elif backend == Backend.SAGEMAKER and (problem := sagemaker.sagemaker_backend_check(project)):
        errors.add("backend", problem)
    errors.raise_if_any()
    try:
        with transaction.atomic():
            endpoint = Endpoint.objects.create(
                project=project,
                name=name,
                config=config,
                weights=initial_weights(config),
                created_by=user,
                tags=tags or {},
                client_token=client_token or None,
                request_sha256=fingerprint,
                backend=backend,
            )
            where = " on Amazon SageMaker" if backend == Backend.SAGEMAKER else ""
            EndpointEvent.objects.create(
                endpoint=endpoint, status=endpoint.status, message=f"Deploying {config.name}{where}"
            )
            audit_record(
                actor=user,
                action="create",
                target_type="endpoint",
                target_name=name,
                project=project,
                details={"endpoint_config": config.name, "backend": backend},
            )
            if backend == Backend.SAGEMAKER:
                Endpoint.objects.filter(pk=endpoint.pk).update(
                    remote=sagemaker.sagemaker_initial_remote(endpoint)
                )
                sagemaker.sagemaker_follow(endpoint)
    except IntegrityError:
        return created_by_the_other_request(Endpoint, project, name, client_token, fingerprint), False
    return endpoint, True


def _not_in_service(endpoint: Endpoint, action: str) -> EndpointStateError:
    return EndpointStateError(
        {"status": f"Endpoint {endpoint.name} is {endpoint.status}; only an InService one can be {action}."}
    )


def endpoint_update(*, endpoint: Endpoint, user: AbstractBaseUser | None, endpoint_config: str) -> Endpoint:
    """Blue/green: the new config's processes start beside the old ones, which serve until it is ready."""
    if endpoint.status != EndpointStatus.IN_SERVICE:
        raise _not_in_service(endpoint, "updated")
    errors = Errors()
    config = _config_named(errors, endpoint.project, endpoint_config)
    errors.raise_if_any()
    if config.pk == endpoint.config_id:
        raise ValidationError({"endpoint_config": f"Endpoint {endpoint.name} already runs {config.name}."})
    moved = endpoint_transition(
        endpoint,
        EndpointStatus.UPDATING,
        f"Updating to {config.name}",
        expected=(EndpointStatus.IN_SERVICE,),
        pending_config=config,
        failure_reason="",
    )
    if not moved:
        endpoint.refresh_from_db(fields=["status"])
        raise _not_in_service(endpoint, "updated")
    if endpoint.backend == Backend.SAGEMAKER:
        sagemaker.sagemaker_follow(endpoint)
    audit_record(
        actor=user,
        action="update",
        target_type="endpoint",
        target_name=endpoint.name,
        project=endpoint.project,
        details={"endpoint_config": config.name},
    )
    return endpoint


def endpoint_update_weights(*, endpoint: Endpoint, user: AbstractBaseUser | None, weights: dict) -> Endpoint:
    """New traffic weights for the running variants, at once, without a redeploy."""
    errors = Errors()
    if endpoint.status != EndpointStatus.IN_SERVICE:
        raise _not_in_service(endpoint, "given new weights")
    current = dict(endpoint.weights)
    if not isinstance(weights, dict) or not weights:
        errors.add("weights", "Give {variant name: weight} for one or more variants.")
        weights = {}
    for variant, weight in weights.items():
        if variant not in current:
            errors.add("weights", f"{variant!r} is not a production variant of {endpoint.name}.")
        elif not isinstance(weight, (int, float)) or isinstance(weight, bool) or weight < 0:
            errors.add("weights", f"{variant}: the weight must be a number of at least 0.")
        else:
            current[variant] = float(weight)
    if not errors and sum(current.values()) <= 0:
        errors.add("weights", "At least one variant needs a weight above 0.")
    errors.raise_if_any()
    if endpoint.backend == Backend.SAGEMAKER:
        # SageMaker shifts the traffic itself; Studio records the weights once it has accepted them.
        sagemaker.sagemaker_weights_update(endpoint=endpoint, weights=current)
    with transaction.atomic():
        Endpoint.objects.filter(pk=endpoint.pk).update(weights=current, updated_at=timezone.now())
        EndpointEvent.objects.create(
            endpoint=endpoint,
            status=endpoint.status,
            message="Weights " + ", ".join(f"{name}={weight:g}" for name, weight in current.items()),
        )
        audit_record(
            actor=user,
            action="update-weights",
            target_type="endpoint",
            target_name=endpoint.name,
            project=endpoint.project,
            details={"weights": current},
        )
    endpoint.weights = current
    return endpoint


def endpoint_delete(*, endpoint: Endpoint, user: AbstractBaseUser | None) -> None:
    """Deleting: the supervisor stops its processes and removes it; with no supervisor alive nothing
    runs, so it goes at once. A SageMaker endpoint goes once SageMaker has deleted it (deleting one
    that is Deleting again asks SageMaker again)."""
    if endpoint.status != EndpointStatus.DELETING:
        endpoint_transition(endpoint, EndpointStatus.DELETING, "Deleting")
        audit_record(
            actor=user,
            action="delete",
            target_type="endpoint",
            target_name=endpoint.name,
            project=endpoint.project,
        )
    if endpoint.backend == Backend.SAGEMAKER:
        sagemaker.sagemaker_follow(endpoint)
    elif not serving_host_alive():
        endpoint.delete()
