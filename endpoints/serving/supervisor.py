"""The serving supervisor (``manage.py serve_models``): runs every endpoint's serving processes.

Each tick it compares what the endpoints ask for (the instances of their config, and of the
pending config while one updates) with what runs, then: starts what is missing (model fetched and
checked against its SHA-256, unpacked once), marks a process Ready once it answers a ping (it
loads its model and answers a smoke request before it listens), restarts a crashed one with
backoff, drains and stops what is no longer wanted, and moves endpoints through their statuses:

* Creating -> InService when every instance is Ready, or Failed with the model's own error;
* Updating -> InService on the new config once all of its instances are Ready (the old ones serve
  until then and drain after: blue/green), or back to InService on the old config, with the
  reason, when the new one cannot start;
* Deleting -> gone once its processes have stopped.

One supervisor runs per installation (like Celery beat); it owns the ServingInstance rows.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import close_old_connections, connections
from django.utils import timezone

from endpoints.models import (
    Endpoint,
    EndpointStatus,
    InstanceStatus,
    ProductionVariant,
    ServingHost,
    ServingInstance,
)
from endpoints.services.endpoints import endpoint_transition, initial_weights
from endpoints.services.model_files import ModelFilesError, model_environment, prepare_model_dir
from endpoints.serving import protocol
from endpoints.serving.model_server import EXIT_LOAD_FAILED
from jobs.backends.base import BackendError
from jobs.backends.local import ResourceLimits
from jobs.models import Backend

logger = logging.getLogger(__name__)

MAX_START_ATTEMPTS = 3
MAX_BACKOFF_SECONDS = 30.0
# A Ready process is pinged this often; this many missed pings in a row and it is restarted (hung).
LIVENESS_SECONDS = 5.0
MAX_MISSED_PINGS = 3
# SIGTERM lets a serving process answer what it queued (model_server allows itself 30 s); then SIGKILL.
STOP_GRACE_SECONDS = 35.0
LOG_TAIL_BYTES = 4000
# What a serving process inherits from the supervisor: nothing secret (no database URL, no keys).
INHERITED_ENVIRONMENT = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "PYTHONPATH", "VIRTUAL_ENV")

Key = tuple[int, int, str, int]  # endpoint, config, variant, index


@dataclass
class ServingProcess:
    key: Key
    variant: ProductionVariant
    instance_id: int
    address: str = ""
    log_path: Path | None = None
    popen: subprocess.Popen | None = None
    started_at: float = 0.0
    ready: bool = False
    attempts: int = 0
    restarts: int = 0
    next_start_at: float = 0.0
    drain_until: float | None = None
    failure: str = ""
    served: bool = False  # was Ready once: its crashes are retried for ever, never a failed start
    missed_pings: int = 0
    next_ping_at: float = 0.0

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None


def socket_dir() -> Path:
    """Unix socket paths are limited to 107 bytes; a deep data directory falls back to /tmp."""
    preferred = settings.STUDIO_SERVING_DIR / "sockets"
    if len(str(preferred)) > 80:
        import hashlib

        digest = hashlib.sha256(str(preferred).encode()).hexdigest()[:12]
        preferred = Path(tempfile.gettempdir()) / f"studio-sockets-{os.getuid()}-{digest}"
    preferred.mkdir(parents=True, exist_ok=True, mode=0o700)
    return preferred


PR_SET_DUMPABLE = 4


def protect_process_memory() -> None:
    """Serving processes run the users' code under the same uid: make this process's memory and
    /proc/<pid>/environ (database URL, keys) unreadable to them."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)


def _signal_group(popen: subprocess.Popen, signum: int) -> None:
    """Signal the process group it leads (start_new_session), so children of the model's code go too."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(popen.pid, signum)


def _log_tail(path: Path | None) -> str:
    if path is None or not path.exists():
        return ""
    with open(path, "rb") as handle:
        handle.seek(max(0, path.stat().st_size - LOG_TAIL_BYTES))
        lines = handle.read().decode(errors="replace").strip().splitlines()
    for line in reversed(lines):
        if line.startswith("ModelLoadError: "):
            return line[len("ModelLoadError: ") :]
    return "\n".join(lines[-12:])


class Supervisor:
    def __init__(self, name: str | None = None) -> None:
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self.processes: dict[Key, ServingProcess] = {}
        self.stopping: list[tuple[float, ServingProcess]] = []  # (SIGKILL deadline, process)
        self.sockets = socket_dir()
        self.logs = settings.STUDIO_SERVING_DIR / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)

    # --- the loop ---------------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        # A supervisor that died left rows for processes that are gone; this one starts afresh.
        ServingInstance.objects.all().delete()
        try:
            while not stop.is_set():
                try:
                    self.tick()
                except Exception:
                    logger.exception("serving supervisor tick failed")
                finally:
                    close_old_connections()
                stop.wait(settings.STUDIO_SERVING_POLL_SECONDS)
        finally:
            self.shutdown()
            connections.close_all()  # this thread's, so a test database can be dropped after

    def tick(self) -> None:
        now = timezone.now()
        ServingHost.objects.update_or_create(name=self.name, defaults={"heartbeat_at": now})
        # Endpoints on SageMaker run there: their Celery chain follows them, not this supervisor.
        endpoints = list(
            Endpoint.objects.exclude(status=EndpointStatus.FAILED)
            .filter(backend=Backend.LOCAL)
            .select_related("config", "pending_config")
        )
        variants = self._variants_of(endpoints)
        desired: dict[Key, ProductionVariant] = {}
        for endpoint in endpoints:
            if endpoint.status == EndpointStatus.DELETING:
                continue
            configs = [endpoint.config_id]
            if endpoint.status == EndpointStatus.UPDATING and endpoint.pending_config_id:
                configs.append(endpoint.pending_config_id)
            for config_id in configs:
                for variant in variants.get(config_id, []):
                    for index in range(variant.instance_count):
                        desired[(endpoint.pk, config_id, variant.name, index)] = variant
        self._retire(desired, {endpoint.pk: endpoint for endpoint in endpoints})
        self._reap_stopping()
        for key, variant in desired.items():
            try:
                process = self.processes.get(key)
                if process is None:
                    process = self.processes[key] = self._new_process(key, variant)
                elif process.drain_until is not None:
                    self._keep(process)  # wanted again (an update back) before it stopped
                self._look_after(process)
            except Exception as exc:  # one process's trouble must not stall every endpoint
                logger.exception("serving process %s could not be looked after", key)
                if key in self.processes and not self.processes[key].served:
                    self.processes[key].failure = f"{type(exc).__name__}: {exc}"
        for endpoint in endpoints:
            try:
                self._advance(endpoint, variants)
            except Exception:
                logger.exception("endpoint %s could not be advanced", endpoint.name)

    @staticmethod
    def _variants_of(endpoints: list[Endpoint]) -> dict[int, list[ProductionVariant]]:
        config_ids = {e.config_id for e in endpoints} | {
            e.pending_config_id for e in endpoints if e.pending_config_id
        }
        grouped: dict[int, list[ProductionVariant]] = {}
        for variant in ProductionVariant.objects.filter(config_id__in=config_ids).select_related("model"):
            grouped.setdefault(variant.config_id, []).append(variant)
        return grouped

    # --- processes --------------------------------------------------------------------------------

    def _new_process(self, key: Key, variant: ProductionVariant) -> ServingProcess:
        endpoint_id, config_id, name, index = key
        instance, _ = ServingInstance.objects.update_or_create(
            endpoint_id=endpoint_id,
            config_id=config_id,
            variant=name,
            index=index,
            defaults={"is_shadow": variant.is_shadow, "status": InstanceStatus.STARTING, "host": self.name},
        )
        return ServingProcess(key=key, variant=variant, instance_id=instance.pk)

    def _keep(self, process: ServingProcess) -> None:
        process.drain_until = None
        if process.ready:
            ServingInstance.objects.filter(pk=process.instance_id).update(status=InstanceStatus.READY)

    def _look_after(self, process: ServingProcess) -> None:
        if process.failure:
            return
        now = time.monotonic()
        if process.popen is None or process.popen.poll() is not None:
            if process.popen is not None:
                self._exited(process)
            if not process.failure and now >= process.next_start_at:
                self._start(process)
            return
        if not process.ready:
            if protocol.ping(process.address, timeout=1.0):
                process.ready, process.served, process.attempts, process.missed_pings = True, True, 0, 0
                process.next_ping_at = now + LIVENESS_SECONDS
                ServingInstance.objects.filter(pk=process.instance_id).update(
                    status=InstanceStatus.READY, ready_at=timezone.now()
                )
            elif now - process.started_at > settings.STUDIO_SERVING_STARTUP_SECONDS:
                reason = (
                    f"the model did not become ready within {settings.STUDIO_SERVING_STARTUP_SECONDS:g} s"
                )
                self._stop_now(process)
                self._exited(process, reason)
        elif now >= process.next_ping_at:
            # A hung process (a model stuck in a loop) is restarted like a crashed one.
            process.next_ping_at = now + LIVENESS_SECONDS
            process.missed_pings = (
                0 if protocol.ping(process.address, timeout=2.0) else process.missed_pings + 1
            )
            if process.missed_pings >= MAX_MISSED_PINGS:
                logger.warning(
                    "serving process stopped answering; restarting it",
                    extra={"instance": process.instance_id},
                )
                self._stop_now(process)
                self._exited(process, f"it answered no ping for {MAX_MISSED_PINGS * LIVENESS_SECONDS:g} s")

    def _exited(self, process: ServingProcess, reason: str = "") -> None:
        """It ended (or was stopped for ``reason``): retry with backoff; a process that never served
        fails its endpoint's start after a load error or a few attempts."""
        code, was_ready = process.popen.returncode, process.ready
        tail = reason or _log_tail(process.log_path)
        process.popen, process.ready = None, False
        self._remove_socket(process)
        if not process.served:
            process.attempts += 1
            if code == EXIT_LOAD_FAILED:
                process.failure = tail or "the model could not be loaded"
            elif process.attempts >= MAX_START_ATTEMPTS:
                process.failure = f"the serving process exited with code {code} before it was ready: {tail}"
        process.restarts += 1
        backoff = min(MAX_BACKOFF_SECONDS, 2 ** min(process.restarts, 5) / 2)
        process.next_start_at = time.monotonic() + backoff
        logger.warning(
            "serving process exited",
            extra={"instance": process.instance_id, "code": code, "ready": was_ready},
        )
        ServingInstance.objects.filter(pk=process.instance_id).update(
            status=InstanceStatus.STARTING, pid=None, restarts=process.restarts, last_error=tail[-4000:]
        )

    def _start(self, process: ServingProcess) -> None:
        variant = process.variant
        endpoint_id, config_id, name, index = process.key
        try:
            limits = ResourceLimits.for_instance(variant.instance_type)
            model_dir = prepare_model_dir(variant.model)
        except (BackendError, ModelFilesError) as exc:
            if not process.served:
                process.failure = str(exc)
            else:  # it served before: the store may be back soon
                process.next_start_at = time.monotonic() + MAX_BACKOFF_SECONDS
                ServingInstance.objects.filter(pk=process.instance_id).update(last_error=str(exc)[:4000])
            return
        # Instances take turns over the CPUs, so two of them do not share the same ones.
        available = sorted(os.sched_getaffinity(0))
        offset = (process.instance_id * len(limits.cpus)) % len(available)
        limits.cpus = [available[(offset + i) % len(available)] for i in range(len(limits.cpus))]
        process.address = f"unix:{self.sockets / f'{process.instance_id}-{process.restarts}.sock'}"
        process.log_path = self.logs / f"{endpoint_id}-{config_id}-{name}-{index}.log"
        environment = {key: os.environ[key] for key in INHERITED_ENVIRONMENT if key in os.environ}
        environment.update(limits.environment())
        threads = str(settings.STUDIO_SERVING_THREADS)
        environment.update(OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads, OPENBLAS_NUM_THREADS=threads)
        environment.update(model_environment(variant.model))
        environment["STUDIO_SERVING_MAX_BATCH"] = str(settings.STUDIO_SERVING_MAX_BATCH)
        command = [
            sys.executable,
            "-m",
            "endpoints.serving.model_server",
            "--listen",
            process.address,
            "--model-dir",
            str(model_dir),
        ]
        with open(process.log_path, "ab") as log:
            process.popen = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=environment,
                cwd=model_dir,
                preexec_fn=limits.apply_in_child,
                start_new_session=True,
            )
        process.started_at = time.monotonic()
        ServingInstance.objects.filter(pk=process.instance_id).update(
            status=InstanceStatus.STARTING,
            address=process.address,
            pid=process.popen.pid,
            started_at=timezone.now(),
            host=self.name,
        )

    def _stop_now(self, process: ServingProcess) -> None:
        """SIGKILL its whole process group (what the model's code started too) and reap it."""
        if process.popen is not None:
            _signal_group(process.popen, signal.SIGKILL)
            process.popen.wait()

    def _stop_gracefully(self, process: ServingProcess) -> None:
        """SIGTERM (it answers what it queued), reaped later by ``_reap_stopping``."""
        if process.running:
            _signal_group(process.popen, signal.SIGTERM)
            self.stopping.append((time.monotonic() + STOP_GRACE_SECONDS, process))
        self._remove_socket(process)

    def _reap_stopping(self) -> None:
        still = []
        for deadline, process in self.stopping:
            if process.popen.poll() is not None:
                _signal_group(process.popen, signal.SIGKILL)  # what it left behind
            elif time.monotonic() > deadline:
                self._stop_now(process)
            else:
                still.append((deadline, process))
        self.stopping = still

    @staticmethod
    def _remove_socket(process: ServingProcess) -> None:
        if process.address.startswith("unix:"):
            Path(process.address[5:]).unlink(missing_ok=True)

    def _retire(self, desired: dict[Key, ProductionVariant], endpoints: dict[int, Endpoint]) -> None:
        """Processes nobody wants any more: stop routing to them, let them drain, then stop them."""
        now = time.monotonic()
        for key in [key for key in self.processes if key not in desired]:
            process = self.processes[key]
            endpoint = endpoints.get(key[0])
            if process.drain_until is None:
                # A deleted endpoint's processes or ones that never served need no drain.
                drain = settings.STUDIO_SERVING_DRAIN_SECONDS if process.ready and endpoint is not None else 0
                process.drain_until = now + drain
                ServingInstance.objects.filter(pk=process.instance_id).update(status=InstanceStatus.DRAINING)
            if now >= process.drain_until:
                self._stop_gracefully(process)
                ServingInstance.objects.filter(pk=process.instance_id).delete()
                del self.processes[key]

    # --- endpoint statuses ------------------------------------------------------------------------

    def _config_state(self, endpoint: Endpoint, config_id: int, variants) -> tuple[bool, str]:
        """(every instance ready, the first failure) for one of the endpoint's configs."""
        processes = [p for key, p in self.processes.items() if key[0] == endpoint.pk and key[1] == config_id]
        expected = sum(variant.instance_count for variant in variants.get(config_id, []))
        for process in processes:
            if process.failure:
                return (
                    False,
                    f"Variant {process.variant.name} (model {process.variant.model.name}): {process.failure}",
                )
        return len(processes) == expected and all(p.ready for p in processes), ""

    def _stop_config(self, endpoint: Endpoint, config_id: int) -> None:
        for key in [key for key in self.processes if key[0] == endpoint.pk and key[1] == config_id]:
            self._stop_gracefully(self.processes.pop(key))
        ServingInstance.objects.filter(endpoint=endpoint, config_id=config_id).delete()

    def _advance(self, endpoint: Endpoint, variants) -> None:
        if endpoint.status == EndpointStatus.IN_SERVICE:
            self._retry_failed(endpoint)
        elif endpoint.status == EndpointStatus.CREATING:
            ready, failure = self._config_state(endpoint, endpoint.config_id, variants)
            if failure:
                self._stop_config(endpoint, endpoint.config_id)
                endpoint_transition(
                    endpoint,
                    EndpointStatus.FAILED,
                    failure,
                    expected=(EndpointStatus.CREATING,),
                    failure_reason=failure[:2048],
                )
            elif ready:
                count = sum(variant.instance_count for variant in variants.get(endpoint.config_id, []))
                endpoint_transition(
                    endpoint,
                    EndpointStatus.IN_SERVICE,
                    f"{count} instance(s) loaded and answered a smoke request",
                    expected=(EndpointStatus.CREATING,),
                )
        elif endpoint.status == EndpointStatus.UPDATING and endpoint.pending_config_id:
            ready, failure = self._config_state(endpoint, endpoint.pending_config_id, variants)
            new = endpoint.pending_config
            if failure:
                self._stop_config(endpoint, new.pk)
                reason = f"Update to {new.name} failed, still serving {endpoint.config.name}: {failure}"
                endpoint_transition(
                    endpoint,
                    EndpointStatus.IN_SERVICE,
                    reason,
                    expected=(EndpointStatus.UPDATING,),
                    pending_config=None,
                    failure_reason=reason[:2048],
                )
            elif ready:
                endpoint_transition(
                    endpoint,
                    EndpointStatus.IN_SERVICE,
                    f"Traffic moved to {new.name}; {endpoint.config.name} drains",
                    expected=(EndpointStatus.UPDATING,),
                    config=new,
                    pending_config=None,
                    weights=initial_weights(new),
                )
        elif endpoint.status == EndpointStatus.DELETING and not any(
            key[0] == endpoint.pk for key in self.processes
        ):
            endpoint.delete()

    def _retry_failed(self, endpoint: Endpoint) -> None:
        """An InService endpoint's instance that cannot start (after a supervisor restart, with the
        store down) keeps being retried; its error stays on the instance for the pages."""
        for key, process in self.processes.items():
            if key[0] == endpoint.pk and key[1] == endpoint.config_id and process.failure:
                logger.warning("instance of %s cannot start: %s", endpoint.name, process.failure)
                ServingInstance.objects.filter(pk=process.instance_id).update(
                    last_error=process.failure[:4000]
                )
                process.failure, process.attempts = "", 0
                process.next_start_at = time.monotonic() + MAX_BACKOFF_SECONDS

    def shutdown(self) -> None:
        for process in self.processes.values():
            self._stop_gracefully(process)
        self.processes.clear()
        deadline = time.monotonic() + 10
        while self.stopping and time.monotonic() < deadline:
            time.sleep(0.05)
            self._reap_stopping()
        for _, process in self.stopping:
            self._stop_now(process)
        self.stopping = []
        ServingInstance.objects.filter(host=self.name).delete()
        ServingHost.objects.filter(name=self.name).delete()
