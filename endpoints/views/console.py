"""The endpoint page's test console: one request through the invocation gateway, for a signed-in user
whose role may invoke (no API key needed: the session is the credential)."""

from __future__ import annotations

import base64

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_POST

from endpoints import selectors
from endpoints.forms import ConsoleForm
from endpoints.gateway.app import Invocation, Outcome, gateway
from endpoints.models import Endpoint
from studio.roles import Permission
from studio.selectors import project_get_for

# The gateway reads its routes every STUDIO_GATEWAY_REFRESH_SECONDS; an endpoint that has just
# become InService may not be in them yet, so the console waits (once) for the next read.
ROUTE_WAIT_SECONDS = 3.0


def _invoke(endpoint: Endpoint, invocation: Invocation) -> Outcome:
    gateway.start()
    route = gateway.routes.get(invocation.project, invocation.endpoint)
    routed = route is not None and any(variant.addresses for variant in route.variants)
    if endpoint.is_serving and not routed:
        gateway.routes.wait_for_refresh(ROUTE_WAIT_SECONDS)
    return gateway.invoke_blocking(invocation)


def _answer(outcome: Outcome) -> dict:
    try:
        body, encoding = outcome.body.decode(), "utf-8"
    except UnicodeDecodeError:
        body, encoding = base64.b64encode(outcome.body).decode(), "base64"
    return {
        "status": outcome.status,
        "content_type": outcome.content_type,
        "variant": outcome.variant,
        "body": body,
        "body_encoding": encoding,
        "custom_attributes": outcome.custom_attributes,
        "model_ms": round(outcome.model_ms, 3),
    }


@login_required
@require_POST
def endpoint_invoke(request: HttpRequest, project: str, name: str) -> JsonResponse:
    """``{status, content_type, variant, body}`` of the endpoint's answer (HTTP 200 whatever it said);
    403 without the invoke permission, 400 for a request the console cannot send."""
    try:
        project_obj = project_get_for(request.user, project, Permission.INVOKE)
    except PermissionDenied as exc:
        return JsonResponse({"error": "AccessDeniedException", "message": str(exc)}, status=403)
    endpoint = selectors.endpoint_get(project_obj, name)
    variants = [variant.name for variant in endpoint.config.variants.all() if not variant.is_shadow]
    form = ConsoleForm(request.POST, variants=variants)
    if not form.is_valid():
        message = " ".join(f"{field}: {' '.join(errors)}" for field, errors in form.errors.items())
        return JsonResponse(
            {"error": "ValidationError", "message": message, "fields": form.errors}, status=400
        )
    data = form.cleaned_data
    invocation = Invocation(
        project=project_obj.name,
        endpoint=endpoint.name,
        body=data["body"],
        content_type=data["content_type"],
        accept=data["accept"],
        target_variant=data["target_variant"],
    )
    return JsonResponse(_answer(_invoke(endpoint, invocation)))
