"""Where each endpoint's traffic goes: read from the database by a background thread, swapped in whole.

A request never queries the database: it reads the last table, at most
``STUDIO_GATEWAY_REFRESH_SECONDS`` old. The supervisor drains replaced processes for longer than
that, so a request routed by a table one refresh old still finds its process answering.

An endpoint on Amazon SageMaker has no addresses: its route carries the SageMaker endpoint's name
and the project's AWS settings, and the gateway calls sagemaker-runtime's InvokeEndpoint.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import logging
import random
import threading
from dataclasses import dataclass

from django.conf import settings
from django.db import close_old_connections, connections
from django.db.models.fields.json import KT

from cloud.clients import in_region
from cloud.models import AwsSettings
from endpoints.models import Endpoint, EndpointStatus, InstanceStatus, ProductionVariant, ServingInstance
from endpoints.services.sagemaker import sagemaker_name
from jobs.models import Backend

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class VariantRoute:
    name: str
    weight: float
    addresses: tuple[str, ...]
    model: str


@dataclass(frozen=True)
class SageMakerTarget:
    """Where an endpoint on SageMaker is invoked: its name there and the project's AWS settings
    (``version`` changes whenever what a client is built from does)."""

    endpoint_name: str
    aws: AwsSettings | None
    version: str


def aws_settings_version(aws: AwsSettings) -> str:
    fields = (
        aws.pk,
        aws.region,
        aws.endpoint_url,
        aws.access_key_id,
        aws.secret_access_key_encrypted,
        aws.updated_at.isoformat() if aws.updated_at else "",
    )
    return hashlib.sha256(repr(fields).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class EndpointRoute:
    endpoint_id: int
    project: str
    name: str
    status: str
    variants: tuple[VariantRoute, ...]
    shadow: VariantRoute | None
    capture: dict
    _cumulative: tuple[float, ...] = ()
    sagemaker: SageMakerTarget | None = None

    @classmethod
    def build(cls, variants: tuple[VariantRoute, ...], **fields) -> EndpointRoute:
        cumulative = tuple(itertools.accumulate(variant.weight for variant in variants))
        return cls(variants=variants, _cumulative=cumulative, **fields)

    def variant(self, name: str) -> VariantRoute | None:
        return next((variant for variant in self.variants if variant.name == name), None)

    def pick(self) -> VariantRoute | None:
        """A production variant at random, in proportion to the weights (None: all weights 0)."""
        if not self._cumulative or self._cumulative[-1] <= 0:
            return None
        index = bisect.bisect_right(self._cumulative, random.random() * self._cumulative[-1])  # noqa: S311
        return self.variants[min(index, len(self.variants) - 1)]


def load_routes() -> dict[tuple[str, str], EndpointRoute]:
    """Every endpoint's route; only serving endpoints get addresses (three queries in all, a fourth
    for the AWS settings when some endpoint runs on SageMaker)."""
    endpoints = list(
        Endpoint.objects.select_related("project", "config")
        .only(
            "id",
            "name",
            "status",
            "weights",
            "backend",
            "config_id",
            "project__name",
            "config__data_capture",
        )
        .annotate(sagemaker_endpoint_name=KT("remote__endpoint_name"), sagemaker_region=KT("remote__region"))
    )
    serving = {e.pk: e for e in endpoints if e.status in (EndpointStatus.IN_SERVICE, EndpointStatus.UPDATING)}
    on_sagemaker = {e.project_id for e in endpoints if e.backend == Backend.SAGEMAKER}
    aws_of = (
        {aws.project_id: aws for aws in AwsSettings.objects.filter(project_id__in=on_sagemaker)}
        if on_sagemaker
        else {}
    )
    addresses: dict[tuple[int, str], list[str]] = {}
    for instance in ServingInstance.objects.filter(endpoint_id__in=serving, status=InstanceStatus.READY).only(
        "endpoint_id", "config_id", "variant", "address"
    ):
        if serving[instance.endpoint_id].config_id == instance.config_id:
            addresses.setdefault((instance.endpoint_id, instance.variant), []).append(instance.address)
    variants: dict[int, list[ProductionVariant]] = {}
    config_ids = {endpoint.config_id for endpoint in serving.values()}
    for variant in (
        ProductionVariant.objects.filter(config_id__in=config_ids)
        .select_related("model")
        .only("config_id", "name", "is_shadow", "initial_weight", "model__name")
    ):
        variants.setdefault(variant.config_id, []).append(variant)
    table = {}
    for endpoint in endpoints:
        production, shadow = [], None
        for variant in variants.get(endpoint.config_id, []) if endpoint.pk in serving else []:
            route = VariantRoute(
                name=variant.name,
                weight=float(endpoint.weights.get(variant.name, variant.initial_weight)),
                addresses=tuple(sorted(addresses.get((endpoint.pk, variant.name), []))),
                model=variant.model.name,
            )
            if variant.is_shadow:
                shadow = route
            else:
                production.append(route)
        target = None
        if endpoint.backend == Backend.SAGEMAKER:
            # SageMaker captures its endpoints' data itself; Studio's capture writer stays out.
            aws = aws_of.get(endpoint.project_id)
            if aws is not None:
                aws = in_region(aws, endpoint.sagemaker_region)  # where it was created
            target = SageMakerTarget(
                endpoint_name=endpoint.sagemaker_endpoint_name
                or sagemaker_name(endpoint.project.name, endpoint.name),
                aws=aws,
                version=aws_settings_version(aws) if aws is not None else "",
            )
        table[(endpoint.project.name, endpoint.name)] = EndpointRoute.build(
            tuple(production),
            endpoint_id=endpoint.pk,
            project=endpoint.project.name,
            name=endpoint.name,
            status=endpoint.status,
            shadow=shadow,
            capture=endpoint.config.data_capture
            if endpoint.config.capture_enabled and target is None
            else {},
            sagemaker=target,
        )
    return table


class RouteTable:
    def __init__(self, interval: float | None = None) -> None:
        self.interval = settings.STUDIO_GATEWAY_REFRESH_SECONDS if interval is None else interval
        self.table: dict[tuple[str, str], EndpointRoute] = {}
        self._started = False
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self.refreshed = threading.Condition()
        self.generation = 0
        self.stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        with self._lock:
            if self._started:
                return
            self._started = True
        self._thread = threading.Thread(target=self._loop, name="gateway-routes", daemon=True)
        self._thread.start()
        # The first table, read by the thread (which owns the database connection), before any request.
        with self.refreshed:
            self.refreshed.wait_for(lambda: self.generation > 0, timeout=30)

    def refresh(self) -> None:
        try:
            table = load_routes()
        except Exception:
            logger.exception("could not read the endpoints' routes; keeping the last ones")
            return
        finally:
            close_old_connections()
        with self.refreshed:
            self.table = table
            self.generation += 1
            self.refreshed.notify_all()

    def refresh_soon(self) -> None:
        self._wake.set()

    def wait_for_refresh(self, timeout: float) -> None:
        """Block until the next refresh (call from a thread, never from the event loop)."""
        with self.refreshed:
            generation = self.generation
            self._wake.set()
            self.refreshed.wait_for(lambda: self.generation != generation, timeout)

    def _loop(self) -> None:
        while not self.stopping.is_set():
            self.refresh()
            self._wake.wait(self.interval)
            self._wake.clear()
        connections.close_all()

    def stop(self) -> None:
        self.stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(10)

    def get(self, project: str, name: str) -> EndpointRoute | None:
        return self.table.get((project, name))
