"""The invocation gateway's ASGI handler and its core, ``Gateway.invoke``.

Per request: the API key from a short-lived cache, the route from the in-memory table, one frame to
the least busy serving process of the chosen variant over a connection kept open, the answer back.
Capture, metrics and the shadow copy happen after the answer is on its way, off the request path.
An endpoint on Amazon SageMaker is answered by sagemaker-runtime's InvokeEndpoint instead, called
from a thread pool (``endpoints.gateway.sagemaker``); SageMaker picks the variant, shadows and
captures data itself, and the gateway counts the metrics as for any endpoint.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import numpy as np
from django.conf import settings

from endpoints.gateway.auth import Caller, KeyCache
from endpoints.gateway.capture import CaptureRecord, CaptureWriter
from endpoints.gateway.metrics import MetricsRecorder
from endpoints.gateway.routes import EndpointRoute, RouteTable, VariantRoute
from endpoints.gateway.sagemaker import SageMakerRuntime, invoke_request
from endpoints.serving import protocol

INVOCATIONS = re.compile(
    r"^/api/v1/projects/(?P<project>[a-z0-9-]{1,63})/endpoints/(?P<endpoint>[A-Za-z0-9-]{1,63})/invocations/?$"
)
MAX_INFERENCE_ID = 64
MAX_CUSTOM_ATTRIBUTES = 1024
MAX_TYPE_HEADER = 1024
NOT_SENT = (ConnectionRefusedError, FileNotFoundError)

Scope = dict
Receive = Callable[[], Awaitable[dict]]
Send = Callable[[dict], Awaitable[None]]


@dataclass
class Invocation:
    project: str
    endpoint: str
    body: bytes
    content_type: str = "text/csv"
    accept: str = ""
    target_variant: str = ""
    inference_id: str = ""
    custom_attributes: str = ""


@dataclass
class Outcome:
    status: int
    body: bytes
    content_type: str = "application/json"
    variant: str = ""
    custom_attributes: str = ""
    model_ms: float = 0.0
    headers: list = field(default_factory=list)

    @classmethod
    def error(cls, status: int, code: str, message: str, variant: str = "") -> Outcome:
        return cls(status, json.dumps({"error": code, "message": message}).encode(), variant=variant)


ERROR_CODES = {
    protocol.CLIENT_ERROR: "ValidationError",
    protocol.UNSUPPORTED: "UnsupportedContentType",
    protocol.NOT_ACCEPTABLE: "NotAcceptable",
    protocol.MODEL_ERROR: "ModelError",
}


def answers_agree(first: bytes, second: bytes) -> bool:
    """Shadow testing: the same bytes, or the same numbers within float noise."""
    if first.strip() == second.strip():
        return True
    numbers = re.compile(rb"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
    left, right = numbers.findall(first), numbers.findall(second)
    if not left or len(left) != len(right):
        return False
    return bool(np.allclose(np.array(left, dtype=float), np.array(right, dtype=float), rtol=1e-6, atol=1e-9))


class Gateway:
    def __init__(self) -> None:
        self.routes = RouteTable()
        self.keys = KeyCache()
        self.metrics = MetricsRecorder()
        self.capture = CaptureWriter()
        self.sagemaker = SageMakerRuntime()
        self.connections: dict[str, protocol.Connection] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        self._started = False
        self._shadows: set[asyncio.Future] = set()

    def start(self) -> None:
        if not self._started:
            self.routes.start()
            self.metrics.start()
            self.capture.start()
            self._started = True

    def stop(self) -> None:
        self.routes.stop()
        self.metrics.stop()
        self.capture.stop()
        self.sagemaker.stop()

    # --- HTTP ---------------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send, match: re.Match) -> None:
        started = time.perf_counter()
        if not self._started:
            await asyncio.to_thread(self.start)
        loop = asyncio.get_running_loop()
        if loop is not self.loop:  # connections belong to the loop that opened them
            self.loop, self.connections = loop, {}
        headers = dict(scope["headers"])
        outcome = await self._authorize(headers, match["project"], match["endpoint"])
        if outcome is None:
            body = await self._read_body(headers, receive)
            if isinstance(body, Outcome):
                outcome = body
            else:
                invocation = Invocation(
                    project=match["project"],
                    endpoint=match["endpoint"],
                    body=body,
                    content_type=headers.get(b"content-type", b"text/csv").decode("latin-1"),
                    accept=headers.get(b"accept", b"").decode("latin-1"),
                    target_variant=headers.get(b"x-amzn-sagemaker-target-variant", b"").decode("latin-1"),
                    inference_id=headers.get(b"x-amzn-sagemaker-inference-id", b"").decode("latin-1"),
                    custom_attributes=headers.get(b"x-amzn-sagemaker-custom-attributes", b"").decode(
                        "latin-1"
                    ),
                )
                outcome = await self.invoke(invocation, self.connections, started)
        response_headers = [
            (b"content-type", outcome.content_type.encode("latin-1")),
            (b"content-length", str(len(outcome.body)).encode()),
        ]
        if outcome.variant:
            response_headers.append((b"x-amzn-invoked-production-variant", outcome.variant.encode()))
        if outcome.custom_attributes:
            response_headers.append(
                (b"x-amzn-sagemaker-custom-attributes", outcome.custom_attributes.encode("latin-1"))
            )
        response_headers.extend(outcome.headers)
        await send({"type": "http.response.start", "status": outcome.status, "headers": response_headers})
        await send({"type": "http.response.body", "body": outcome.body})

    async def _authorize(self, headers: dict, project: str, endpoint: str) -> Outcome | None:
        authorization = headers.get(b"authorization", b"").decode("latin-1").split()
        if len(authorization) != 2 or authorization[0] != "Bearer":
            outcome = Outcome.error(401, "UnauthorizedOperation", "Send 'Authorization: Bearer <api key>'.")
            outcome.headers.append((b"www-authenticate", b"Bearer"))
            return outcome
        key = authorization[1]
        caller = await self.keys.caller(key)
        if caller is None:
            return Outcome.error(401, "UnauthorizedOperation", "Unknown or revoked API key.")
        return self._check_caller(caller, project, endpoint)

    @staticmethod
    def _check_caller(caller: Caller, project: str, endpoint: str) -> Outcome | None:
        if caller.roles.get(project) is None:
            return Outcome.error(404, "ValidationError", f"No project named {project!r}.")
        refusal = caller.may_invoke(project, endpoint)
        return Outcome.error(403, "AccessDeniedException", refusal) if refusal else None

    @staticmethod
    async def _read_body(headers: dict, receive: Receive) -> bytes | Outcome:
        limit = settings.STUDIO_INVOCATION_MAX_BYTES
        too_large = Outcome.error(413, "ValidationError", f"The request body is over {limit} bytes (6 MB).")
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            return too_large
        message = await receive()
        body = message.get("body", b"")
        if not message.get("more_body"):
            return body if len(body) <= limit else too_large
        parts, size = [body], len(body)
        while message.get("more_body"):
            message = await receive()
            size += len(message.get("body", b""))
            if size > limit:
                return too_large
            parts.append(message.get("body", b""))
        return b"".join(parts)

    # --- the core -----------------------------------------------------------------------------------

    def _check(
        self, invocation: Invocation
    ) -> tuple[EndpointRoute | None, VariantRoute | None, Outcome | None]:
        route = self.routes.get(invocation.project, invocation.endpoint)
        if route is None:
            message = f"Endpoint {invocation.endpoint} not found in project {invocation.project}."
            return None, None, Outcome.error(404, "ValidationError", message)
        if not route.variants:
            message = f"Endpoint {route.name} is {route.status}; it answers only when InService."
            return route, None, Outcome.error(400, "ValidationError", message)
        if len(invocation.inference_id) > MAX_INFERENCE_ID:
            return route, None, Outcome.error(400, "ValidationError", "InferenceId is at most 64 characters.")
        if max(len(invocation.content_type), len(invocation.accept)) > MAX_TYPE_HEADER:
            message = "Content-Type and Accept are at most 1024 characters."
            return route, None, Outcome.error(400, "ValidationError", message)
        if len(invocation.custom_attributes) > MAX_CUSTOM_ATTRIBUTES:
            return (
                route,
                None,
                Outcome.error(400, "ValidationError", "CustomAttributes is at most 1024 characters."),
            )
        if invocation.target_variant:
            variant = route.variant(invocation.target_variant)
            if variant is None:
                names = ", ".join(v.name for v in route.variants)
                message = (
                    f"Endpoint {route.name} has no variant {invocation.target_variant!r} (it has {names})."
                )
                return route, None, Outcome.error(400, "ValidationError", message)
        elif route.sagemaker is not None:
            variant = None  # SageMaker spreads the traffic by its own weights
        else:
            variant = route.pick()
            if variant is None:
                return (
                    route,
                    None,
                    Outcome.error(400, "ValidationError", f"Every variant of {route.name} weighs 0."),
                )
        return route, variant, None

    async def invoke(
        self,
        invocation: Invocation,
        connections: dict[str, protocol.Connection],
        started: float | None = None,
    ) -> Outcome:
        """Answer one invocation (the caller is already authorized)."""
        started = time.perf_counter() if started is None else started
        route, variant, refused = self._check(invocation)
        if refused is not None:
            if route is not None and variant is not None:
                self.metrics.record(route.endpoint_id, variant.name, refused.status, 0.0, 0.0)
            return refused
        if route.sagemaker is not None:
            return await self._invoke_sagemaker(route, variant, invocation, started)
        meta = {"ct": invocation.content_type, "accept": invocation.accept}
        if invocation.custom_attributes:
            meta["attrs"] = invocation.custom_attributes
        if invocation.inference_id:
            meta["id"] = invocation.inference_id
        outcome = await self._call_variant(variant, meta, invocation.body, connections, route)
        overhead_ms = (time.perf_counter() - started) * 1000 - outcome.model_ms
        self.metrics.record(
            route.endpoint_id, variant.name, outcome.status, outcome.model_ms, max(0.0, overhead_ms)
        )
        event_id = ""
        if route.capture and outcome.status == 200 and self._sampled(route.capture):
            # The shadow's capture line shares the event id; without a shadow the capture thread makes it.
            event_id = str(uuid.uuid4()) if route.shadow is not None else ""
            self._capture(route, variant.name, invocation, outcome, event_id)
        if route.shadow is not None and route.shadow.addresses and outcome.status == 200:
            shadow = asyncio.ensure_future(
                self._shadow(route, invocation, meta, outcome, connections, event_id)
            )
            self._shadows.add(shadow)  # a reference, so the task is not collected mid-flight
            shadow.add_done_callback(self._shadows.discard)
        return outcome

    async def _invoke_sagemaker(
        self, route: EndpointRoute, variant: VariantRoute | None, invocation: Invocation, started: float
    ) -> Outcome:
        request = invoke_request(
            route.sagemaker,
            body=invocation.body,
            content_type=invocation.content_type,
            accept=invocation.accept,
            custom_attributes=invocation.custom_attributes,
            target_variant=invocation.target_variant,
            inference_id=invocation.inference_id,
        )
        loop = asyncio.get_running_loop()
        answer = await loop.run_in_executor(
            self.sagemaker.pool, self.sagemaker.invoke, route.sagemaker, request
        )
        if answer.status == 200:
            outcome = Outcome(
                200,
                answer.body,
                answer.content_type,
                answer.variant,
                answer.custom_attributes,
                answer.model_ms,
            )
        else:
            message = answer.message
            if answer.status == 424:
                message = f"SageMaker endpoint {route.name}'s model answered with an error: {message}"
            outcome = Outcome.error(answer.status, answer.error, message, answer.variant)
            outcome.model_ms = answer.model_ms
            if answer.retry_after:
                outcome.headers.append((b"retry-after", b"1"))
        # SageMaker names the variant that answered; a failed call may not, so its error is counted
        # on the variant asked for, else on the first one (the endpoint's totals stay right).
        counted = outcome.variant or (variant.name if variant is not None else route.variants[0].name)
        overhead_ms = (time.perf_counter() - started) * 1000 - outcome.model_ms
        self.metrics.record(
            route.endpoint_id, counted, outcome.status, outcome.model_ms, max(0.0, overhead_ms)
        )
        return outcome

    async def _call_variant(
        self,
        variant: VariantRoute,
        meta: dict,
        body: bytes,
        connections: dict[str, protocol.Connection],
        route: EndpointRoute,
    ) -> Outcome:
        candidates = list(variant.addresses)
        while candidates:
            address = min(candidates, key=lambda a: connections[a].in_flight if a in connections else 0)
            connection = connections.get(address)
            if connection is None or connection.closed:
                connection = connections[address] = protocol.Connection(address)
            try:
                response = await connection.call(meta, body, settings.STUDIO_INVOCATION_TIMEOUT_SECONDS)
            except NOT_SENT:
                # It never reached the process (replaced or restarting): another instance can answer.
                candidates.remove(address)
                connections.pop(address, None)
                self.routes.refresh_soon()
                continue
            except TimeoutError:
                return Outcome.error(
                    504,
                    "ModelError",
                    f"Variant {variant.name} did not answer within "
                    f"{settings.STUDIO_INVOCATION_TIMEOUT_SECONDS:g} s.",
                    variant.name,
                )
            except ConnectionError as exc:
                connections.pop(address, None)
                return Outcome.error(
                    500,
                    "InternalFailure",
                    f"The serving process of {variant.name} ended while answering: {exc}",
                    variant.name,
                )
            return self._outcome(response, variant, route)
        return Outcome.error(
            503,
            "ServiceUnavailable",
            f"No instance of variant {variant.name} of {route.name} is ready; try again shortly.",
            variant.name,
        )

    @staticmethod
    def _outcome(response: protocol.Response, variant: VariantRoute, route: EndpointRoute) -> Outcome:
        model_ms = float(response.meta.get("ms", 0.0))
        if response.status == protocol.OK:
            return Outcome(
                200,
                response.body,
                response.meta.get("ct", "application/octet-stream"),
                variant.name,
                response.meta.get("attrs", ""),
                model_ms,
            )
        message = response.meta.get("error") or response.body.decode(errors="replace")
        code = ERROR_CODES.get(response.status, "InternalFailure")
        if response.status == protocol.MODEL_ERROR:
            message = (
                f"Received server error (424) from model {variant.model} of variant {variant.name} "
                f'with message "{message}". See the serving logs of endpoint {route.name}.'
            )
        outcome = Outcome.error(response.status, code, message, variant.name)
        outcome.model_ms = model_ms
        return outcome

    @staticmethod
    def _sampled(capture: dict) -> bool:
        percentage = capture.get("sampling_percentage", 100.0)
        return percentage >= 100 or random.random() * 100 < percentage  # noqa: S311

    def _capture(
        self, route: EndpointRoute, variant: str, invocation: Invocation, outcome: Outcome, event_id: str
    ) -> None:
        self.capture.add(
            CaptureRecord(
                route.capture["destination_uri"],
                route.name,
                variant,
                route.capture,
                invocation.body,
                invocation.content_type,
                outcome.body,
                outcome.content_type,
                event_id,
                invocation.inference_id,
                time.time(),
            )  # positional: a tuple, made on the request path
        )

    async def _shadow(
        self,
        route: EndpointRoute,
        invocation: Invocation,
        meta: dict,
        production: Outcome,
        connections: dict[str, protocol.Connection],
        event_id: str,
    ) -> None:
        """The shadow variant answers the same request: compared and captured, never returned."""
        shadow = route.shadow
        started = time.perf_counter()
        outcome = await self._call_variant(shadow, meta, invocation.body, connections, route)
        overhead_ms = (time.perf_counter() - started) * 1000 - outcome.model_ms
        self.metrics.record(
            route.endpoint_id, shadow.name, outcome.status, outcome.model_ms, max(0.0, overhead_ms)
        )
        self.metrics.record_shadow(
            route.endpoint_id,
            shadow.name,
            outcome.status == 200 and answers_agree(production.body, outcome.body),
        )
        if route.capture and outcome.status == 200 and (event_id or self._sampled(route.capture)):
            self._capture(route, shadow.name, invocation, outcome, event_id)

    def invoke_blocking(self, invocation: Invocation) -> Outcome:
        """``invoke`` from synchronous code (a Django view): on the gateway's loop when this process
        serves ASGI, else on a loop of its own with connections of its own."""
        self.start()
        loop = self.loop
        if loop is not None and loop.is_running():
            return asyncio.run_coroutine_threadsafe(self.invoke(invocation, self.connections), loop).result()

        async def once() -> Outcome:
            connections: dict[str, protocol.Connection] = {}
            try:
                outcome = await self.invoke(invocation, connections)
                await asyncio.sleep(0.05)  # let a shadow copy finish on these connections
                return outcome
            finally:
                for connection in connections.values():
                    await connection.close()

        return asyncio.run(once())


gateway = Gateway()
