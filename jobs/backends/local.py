"""The ``local`` backend: a job is a subprocess in its own working directory laid out like
SageMaker's ``/opt/ml``, with CPU, memory and GPU limits taken from its instance type."""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import queue
import resource
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from jobs.backends import training_layout as layout
from jobs.backends.base import BackendError, ComputeBackend, RunState
from jobs.models import Job, JobKind, JobStatus, SecondaryStatus
from studio.artifacts import ArtifactError, download_prefix, join_uri, store_for, upload_directory
from studio.instance_types import instance_type_get

# What a job's process inherits from the worker; nothing else (no database URL, no secret key).
INHERITED_ENV = (
    "PATH",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "OPENBLAS_CORETYPE",
    "OPENBLAS_L2_SIZE",
    "VIRTUAL_ENV",
)
logger = logging.getLogger(__name__)
PR_SET_PDEATHSIG = 1
# SageMaker scripts name /opt/ml/... paths in their arguments; locally those live in the job's directory.
SAGEMAKER_ROOT = "/opt/ml/"
# After the process exits, how long to wait for output still held by its children.
DRAIN_SECONDS = 2.0
# A transform job's outputs listed on the job (its page, the API); all of them are in the store.
TRANSFORM_LISTED_OUTPUTS = 1000


@cache
def visible_gpus() -> tuple[str, ...]:
    """Indices of the GPUs on this machine (none when nvidia-smi is absent)."""
    nvidia_smi = shutil.which("nvidia-smi")
    if not nvidia_smi:
        return ()
    try:
        listing = subprocess.run([nvidia_smi, "--list-gpus"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return ()
    return tuple(str(i) for i, line in enumerate(listing.stdout.splitlines()) if line.startswith("GPU"))


def _heartbeat(job: Job) -> bool:
    """Keep the reaper away while Studio itself works for the job (installing its requirements).

    False once the job is no longer InProgress (a stop request): the work should end.
    """
    return bool(
        Job.objects.filter(pk=job.pk, status=JobStatus.IN_PROGRESS).update(heartbeat_at=timezone.now())
    )


@dataclass
class ResourceLimits:
    cpus: list[int]
    memory_bytes: int
    gpus: tuple[str, ...]

    @classmethod
    def for_instance(cls, instance_type: str, instance_count: int = 1) -> ResourceLimits:
        instance = instance_type_get(instance_type)
        available = sorted(os.sched_getaffinity(0))
        gpus = visible_gpus()
        wanted_gpus = instance.gpus * instance_count
        if wanted_gpus > len(gpus):
            # Never a silent CPU run of a job that asked for GPUs.
            raise BackendError(
                f"{instance_type} has {instance.gpus} GPU(s) per instance ({wanted_gpus} in all), but this "
                f"worker ({socket.gethostname()}) has {len(gpus) or 'no'} GPU(s). Pick a CPU instance type "
                "or run the job on a worker with GPUs."
            )
        return cls(
            cpus=available[: max(1, min(instance.vcpus * instance_count, len(available)))],
            memory_bytes=instance.memory_gib * 1024**3,
            gpus=gpus[:wanted_gpus],
        )

    def environment(self) -> dict[str, str]:
        threads = str(len(self.cpus))
        return {
            "SM_NUM_CPUS": threads,
            "SM_NUM_GPUS": str(len(self.gpus)),
            "OMP_NUM_THREADS": threads,
            "MKL_NUM_THREADS": threads,
            "OPENBLAS_NUM_THREADS": threads,
            "CUDA_VISIBLE_DEVICES": ",".join(self.gpus),
        }

    def apply_in_child(self) -> None:
        """Runs in the forked child before exec: limits, and death with the worker."""
        if not self.gpus:
            # CUDA maps far more address space than it uses, so GPU jobs get no RLIMIT_AS.
            resource.setrlimit(resource.RLIMIT_AS, (self.memory_bytes, self.memory_bytes))
        os.sched_setaffinity(0, self.cpus)
        # If the worker dies (even by SIGKILL), the job's process dies with it instead of running on unseen.
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


@dataclass
class LocalRun:
    job: Job
    workdir: Path
    process: subprocess.Popen | None = None
    lines: queue.Queue = field(default_factory=queue.Queue)
    reader: threading.Thread | None = None
    exited_at: float | None = None
    kill_at: float | None = None
    checkpoints: layout.CheckpointSync | None = None
    outputs_kept: bool = False


class LocalBackend(ComputeBackend):
    name = "local"

    def submit(self, job: Job, recorder) -> LocalRun:
        workdir = settings.STUDIO_WORK_DIR / str(job.uuid)
        shutil.rmtree(workdir, ignore_errors=True)
        run = LocalRun(job=job, workdir=workdir)
        limits = ResourceLimits.for_instance(job.instance_type, job.instance_count)
        env = {name: os.environ[name] for name in INHERITED_ENV if name in os.environ}
        try:
            if job.kind == JobKind.TRAINING:
                command, cwd, program = self._prepare_training(run, limits, env, recorder)
            elif job.kind == JobKind.TRANSFORM:
                command, cwd, program = self._prepare_transform(run, limits, env, recorder)
            else:
                command, cwd, program = self._prepare_processing(run, env, recorder)
        except BaseException:
            # No handle reaches the runner, so no cleanup() either: the downloads go now.
            shutil.rmtree(workdir, ignore_errors=True)
            raise
        env.update(limits.environment())
        env.update(
            {
                "HOME": str(workdir),
                "TMPDIR": str(workdir / "tmp"),
                "PYTHONUNBUFFERED": "1",
                "STUDIO_JOB_NAME": job.name,
                "STUDIO_ML_ROOT": str(workdir),  # stands in for /opt/ml
                "SM_CURRENT_INSTANCE_TYPE": job.instance_type,
            }
        )
        env.setdefault("SM_CURRENT_HOST", "algo-1")
        env.setdefault("SM_HOSTS", '["algo-1"]')
        recorder.system(
            f"Running {program} on {job.instance_count} x {job.instance_type}: {len(limits.cpus)} CPU(s), "
            f"{limits.memory_bytes // 1024**3} GiB, {len(limits.gpus)} GPU(s)"
        )
        try:
            run.process = subprocess.Popen(
                command,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, so stop reaches its children too
                preexec_fn=limits.apply_in_child,
            )
        except OSError as exc:
            raise BackendError(f"Could not start {program}: {exc}") from exc
        run.reader = threading.Thread(target=self._read_output, args=(run,), daemon=True)
        run.reader.start()
        if run.checkpoints is not None:
            run.checkpoints.start(settings.STUDIO_CHECKPOINT_SYNC_SECONDS)
        return run

    def _prepare_processing(self, run: LocalRun, env: dict, recorder) -> tuple[list[str], Path, str]:
        job, workdir, spec = run.job, run.workdir, run.job.spec
        for sub in ("processing/input", "processing/output", "config", "output", "tmp"):
            (workdir / sub).mkdir(parents=True, exist_ok=True)
        recorder.set_secondary(SecondaryStatus.DOWNLOADING, "Downloading the script and input data")
        if "entrypoint" in spec:
            # One of Studio's own job modules (profiling, data preparation), run from this install.
            program = spec["entrypoint"]["module"]
            command = [sys.executable, "-u", "-m", program]
            env["PYTHONPATH"] = str(settings.BASE_DIR)
        else:
            script_path = workdir / "processing/input/code" / spec["script"]["filename"]
            layout.fetch_verified(spec["script"]["uri"], spec["script"]["sha256"], script_path, "Script")
            program = script_path.name
            command = [sys.executable, "-u", str(script_path)]
        for item in spec.get("inputs", []):
            target = workdir / "processing/input" / item["name"]
            try:
                objects = download_prefix(item["source_uri"], target)
            except ArtifactError as exc:
                raise BackendError(f"Input '{item['name']}': {exc}") from exc
            recorder.system(f"Input '{item['name']}': {len(objects)} file(s) from {item['source_uri']}")
        for item in spec.get("outputs", []):
            (workdir / "processing/output" / item["name"]).mkdir(parents=True, exist_ok=True)
        self._write_config(job, workdir)
        recorder.set_secondary(SecondaryStatus.PROCESSING, "Running the processing script")
        arguments = [self._local_path(arg, workdir) for arg in spec.get("arguments", [])]
        env.update(spec.get("environment", {}))
        env.update({"PROCESSING_JOB_NAME": job.name, "SM_CURRENT_HOST": "algo-1", "SM_HOSTS": '["algo-1"]'})
        return [*command, *arguments], workdir, program

    def _prepare_training(
        self, run: LocalRun, limits: ResourceLimits, env: dict, recorder
    ) -> tuple[list[str], Path, str]:
        """SageMaker's training contract: /opt/ml layout, SM_* variables, hyperparameters as arguments."""
        job, workdir, spec = run.job, run.workdir, run.job.spec
        for sub in layout.FOLDERS:
            (workdir / sub).mkdir(parents=True, exist_ok=True)
        recorder.set_secondary(SecondaryStatus.DOWNLOADING, "Downloading input data")
        layout.fetch_channels(spec, workdir, recorder.system)
        run.checkpoints = layout.CheckpointSync(spec.get("checkpoint_uri", ""), workdir / "checkpoints")
        if restored := run.checkpoints.restore():
            recorder.system(f"Restored {restored} checkpoint file(s) from {spec['checkpoint_uri']}")
        layout.write_config(job, workdir)
        decoded = layout.decoded_hyperparameters(spec.get("hyperparameters", {}))
        if spec.get("algorithm"):
            program = spec["algorithm"]["name"]
            python, entry, cwd = sys.executable, program, workdir
            command = [python, "-u", "-m", "jobs.algorithms", program]
            env["PYTHONPATH"] = str(settings.BASE_DIR)
        else:
            code = spec["code"]
            entry_path = layout.fetch_code(code, workdir)
            program, entry, cwd = code["entry_point"], code["entry_point"], workdir / "code"
            python = layout.python_for(cwd, recorder.system, lambda: _heartbeat(job))
            command = [python, "-u", str(entry_path), *layout.hyperparameter_arguments(decoded)]
            env["PYTHONPATH"] = str(cwd)
        per_instance_cpus = max(1, len(limits.cpus) // job.instance_count)
        gpus_per_instance = len(limits.gpus) // job.instance_count
        env.update(spec.get("environment", {}))
        env.update(
            layout.sm_environment(
                job, workdir, num_cpus=per_instance_cpus, num_gpus=gpus_per_instance, entry_point=entry
            )
        )
        if job.instance_count > 1:
            command = layout.distributed_command(python, job.instance_count, command[2:])
            env["PYTHONPATH"] = os.pathsep.join([env["PYTHONPATH"], str(settings.BASE_DIR)])
        recorder.set_secondary(
            SecondaryStatus.TRAINING, "Training image download completed. Training in progress."
        )
        return command, cwd, program

    def _prepare_transform(
        self, run: LocalRun, limits: ResourceLimits, env: dict, recorder
    ) -> tuple[list[str], Path, str]:
        """SageMaker's batch transform: the model's folder, the input files, and the runtime's config
        (endpoints.inference.transform runs it, in worker processes of its own)."""
        # endpoints builds on jobs: imported here, not at the top.
        from endpoints.models import Model
        from endpoints.services.model_files import ModelFilesError, prepare_model_dir

        workdir, spec = run.workdir, run.job.spec
        for sub in ("input", "output/data", "config", "tmp"):
            (workdir / sub).mkdir(parents=True, exist_ok=True)
        recorder.set_secondary(SecondaryStatus.DOWNLOADING, "Downloading the model and the input data")
        model = spec["model"]
        fields = ("artifact_uri", "artifact_sha256", "code", "environment")
        try:
            model_dir = prepare_model_dir(Model(name=model["name"], **{key: model[key] for key in fields}))
        except ModelFilesError as exc:
            raise BackendError(f"Model {model['name']}: {exc}") from exc
        source = spec["input"]["source_uri"]
        try:
            objects = download_prefix(source, workdir / "input")
        except ArtifactError as exc:
            raise BackendError(f"Input: {exc}") from exc
        recorder.system(
            f"Model {model['name']} (SHA-256 {model['artifact_sha256'][:12]}); input: {len(objects)} "
            f"file(s), {sum(item.size for item in objects)} bytes from {source}"
        )
        payload_mb = spec["max_payload_mb"]
        # Unset: as many workers as the instance has CPUs, as SageMaker's containers answer.
        workers = spec["max_concurrent_transforms"] or max(1, min(len(limits.cpus), 100 // payload_mb))
        config_path = workdir / "config/transform.json"
        config_path.write_text(
            json.dumps(
                {
                    "input_dir": str(workdir / "input"),
                    "output_dir": str(workdir / "output/data"),
                    "scratch_dir": str(workdir / "tmp/transform"),
                    "report_file": str(workdir / "output/transform-report.json"),
                    "failure_file": str(workdir / "output/failure"),
                    "model_dir": str(model_dir),
                    **{key: spec["input"][key] for key in ("content_type", "split_type", "compression")},
                    "batch_strategy": spec["batch_strategy"],
                    "max_payload_bytes": payload_mb * 1024 * 1024,
                    "max_concurrent_transforms": workers,
                    "accept": spec["output"]["accept"],
                    "assemble_with": spec["output"]["assemble_with"],
                    **spec["data_processing"],
                    # CUDA cannot be forked: GPU workers load the model each.
                    "share_model": not limits.gpus,
                },
                indent=2,
            )
        )
        env.update(model["environment"])
        env.update(spec.get("environment", {}))
        env.update(
            {
                "PYTHONPATH": str(settings.BASE_DIR),
                "SAGEMAKER_BATCH": "true",
                "SAGEMAKER_MAX_PAYLOAD_IN_MB": str(payload_mb),
                "SAGEMAKER_BATCH_STRATEGY": spec["batch_strategy"].upper().replace("RECORD", "_RECORD"),
                "SAGEMAKER_MAX_CONCURRENT_TRANSFORMS": str(workers),
            }
        )
        recorder.set_secondary(
            SecondaryStatus.TRANSFORMING, f"Transforming the input with {workers} worker(s)"
        )
        return (
            [sys.executable, "-u", "-m", "endpoints.inference.transform", "--config", str(config_path)],
            workdir,
            "batch transform",
        )

    @staticmethod
    def _local_path(argument: str, workdir: Path) -> str:
        if argument.startswith(SAGEMAKER_ROOT):
            return str(workdir / argument[len(SAGEMAKER_ROOT) :])
        return argument

    @staticmethod
    def _write_config(job: Job, workdir: Path) -> None:
        spec = job.spec
        config = {
            "ProcessingJobName": job.name,
            "ProcessingInputs": [
                {
                    "InputName": item["name"],
                    "S3Input": {
                        "S3Uri": item["source_uri"],
                        "LocalPath": f"/opt/ml/processing/input/{item['name']}",
                    },
                }
                for item in spec.get("inputs", [])
            ],
            "ProcessingOutputConfig": {
                "Outputs": [
                    {
                        "OutputName": item["name"],
                        "S3Output": {
                            "S3Uri": item["destination_uri"],
                            "LocalPath": f"/opt/ml/processing/output/{item['name']}",
                            "S3UploadMode": "EndOfJob",
                        },
                    }
                    for item in spec.get("outputs", [])
                ]
            },
            "ProcessingResources": {
                "ClusterConfig": {"InstanceCount": job.instance_count, "InstanceType": job.instance_type}
            },
            "AppSpecification": {"ContainerArguments": spec.get("arguments", [])},
            "Environment": spec.get("environment", {}),
            "StoppingCondition": {"MaxRuntimeInSeconds": job.max_runtime_seconds},
        }
        resource_config = {
            "current_host": "algo-1",
            "hosts": ["algo-1"],
            "network_interface_name": "lo",
            "current_instance_type": job.instance_type,
        }
        (workdir / "config/processingjobconfig.json").write_text(json.dumps(config, indent=2))
        (workdir / "config/resourceconfig.json").write_text(json.dumps(resource_config))

    @staticmethod
    def _read_output(run: LocalRun) -> None:
        assert run.process is not None
        assert run.process.stdout is not None
        for raw in iter(run.process.stdout.readline, b""):
            run.lines.put(raw.decode("utf-8", errors="replace"))
        run.lines.put(None)

    def refresh(self, handle: LocalRun, *, wait_seconds: float) -> RunState:
        run = handle
        assert run.process is not None
        chunks: list[str] = []
        eof = False
        with contextlib.suppress(queue.Empty):
            item = run.lines.get(timeout=wait_seconds)
            while True:
                if item is None:
                    eof = True
                    break
                chunks.append(item)
                item = run.lines.get_nowait()
        if eof:
            run.lines.put(None)  # keep the end marker for the next refresh
        now = time.monotonic()
        exit_code = run.process.poll()
        if exit_code is None and run.kill_at is not None and now >= run.kill_at:
            self._signal(run, signal.SIGKILL)
        if exit_code is not None and run.exited_at is None:
            run.exited_at = now
        state = RunState(log_text="".join(chunks))
        # Finished once all output is read, or once children holding the pipe had their chance.
        if exit_code is not None and (eof or now - run.exited_at >= DRAIN_SECONDS):
            state.exit_code = exit_code
            state.failure_reason = self._failure_file(run)
            if exit_code and run.job.kind == JobKind.TRANSFORM and not run.outputs_kept:
                state.log_text += self._keep_transform_outputs(run)
        return state

    @staticmethod
    def _failure_file(run: LocalRun) -> str:
        failure = run.workdir / "output" / "failure"
        if failure.is_file():
            return failure.read_text(errors="replace")[:1024]
        return ""

    @staticmethod
    def _signal(run: LocalRun, sig: int) -> None:
        if run.process is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(run.process.pid, sig)

    def stop(self, handle: LocalRun, *, grace_seconds: float) -> None:
        self._signal(handle, signal.SIGTERM)
        handle.kill_at = time.monotonic() + grace_seconds

    def collect(self, handle: LocalRun, recorder) -> list[dict]:
        if handle.job.kind == JobKind.TRAINING:
            return self._collect_training(handle, recorder)
        if handle.job.kind == JobKind.TRANSFORM:
            recorder.set_secondary(SecondaryStatus.UPLOADING, "Uploading the transformed data")
            return self._upload_transform(handle, recorder.system)
        return self._collect_processing(handle, recorder)

    def _collect_training(self, handle: LocalRun, recorder) -> list[dict]:
        """model/ → model.tar.gz and output/data/ → output.tar.gz, each with its SHA-256."""
        from studio.services import artifact_record  # studio.services imports nothing of jobs

        job, workdir = handle.job, handle.workdir
        recorder.set_secondary(SecondaryStatus.UPLOADING, "Uploading generated training model")
        produced = []
        for name, folder in (("model", workdir / "model"), ("output", workdir / "output/data")):
            uri = f"{job.spec['output_uri']}/{name}.tar.gz"
            try:
                stored = layout.upload_archive(folder, uri, workdir / "tmp")
            except ArtifactError as exc:
                raise BackendError(f"Uploading {name}.tar.gz: {exc}") from exc
            artifact_record(project=job.project, stored=stored, origin=f"training-job/{job.name}")
            files = sum(1 for path in folder.rglob("*") if path.is_file())
            produced.append(
                {
                    "name": name,
                    "uri": stored.uri,
                    "sha256": stored.sha256,
                    "bytes": stored.size,
                    "files": files,
                }
            )
            recorder.system(f"{name}.tar.gz: {files} file(s), {stored.size} bytes, SHA-256 {stored.sha256}")
        return produced

    def _collect_processing(self, handle: LocalRun, recorder) -> list[dict]:
        from studio.services import artifact_record  # studio.services imports nothing of jobs

        job = handle.job
        recorder.set_secondary(SecondaryStatus.UPLOADING, "Uploading output data")
        produced = []
        for item in job.spec.get("outputs", []):
            source = handle.workdir / "processing/output" / item["name"]
            try:
                stored = upload_directory(source, item["destination_uri"])
            except ArtifactError as exc:
                raise BackendError(f"Output '{item['name']}': {exc}") from exc
            for obj in stored:
                artifact_record(project=job.project, stored=obj, origin=f"processing-job/{job.name}")
            produced.append(
                {
                    "name": item["name"],
                    "uri": item["destination_uri"],
                    "files": len(stored),
                    "bytes": sum(obj.size for obj in stored),
                }
            )
            recorder.system(f"Output '{item['name']}': {len(stored)} file(s) to {item['destination_uri']}")
        return produced

    def _upload_transform(self, handle: LocalRun, report) -> list[dict]:
        """Each input file's ``.out`` (or ``.errors.jsonl``) from the runtime's report, to the output URI."""
        from studio.services import artifact_record  # studio.services imports nothing of jobs

        job, workdir = handle.job, handle.workdir
        handle.outputs_kept = True
        summary = json.loads((workdir / "output/transform-report.json").read_text())
        destination = job.spec["output"]["uri"]
        produced, files, size = [], 0, 0
        for item in summary["files"]:
            for kind in ("output", "errors"):
                if not item[kind]:
                    continue
                uri = join_uri(destination, item[kind])
                try:
                    stored = store_for(uri).put_file(uri, workdir / "output/data" / item[kind])
                except (ArtifactError, OSError) as exc:
                    raise BackendError(f"Uploading {item[kind]}: {exc}") from exc
                artifact_record(project=job.project, stored=stored, origin=f"transform-job/{job.name}")
                files, size = files + 1, size + stored.size
                if len(produced) < TRANSFORM_LISTED_OUTPUTS:
                    produced.append(
                        {
                            "name": item[kind],
                            "kind": kind,
                            "uri": stored.uri,
                            "sha256": stored.sha256,
                            "bytes": stored.size,
                            "input": item["input"],
                            "records": item["records"],
                            **(
                                {"failed": item["failed"], "failures": item["failures"]}
                                if kind == "errors"
                                else {}
                            ),
                        }
                    )
        report(
            f"{files} file(s), {size} bytes to {destination} "
            f"({summary['records']} records, {summary['failed']} failed)"
        )
        return produced

    def _keep_transform_outputs(self, handle: LocalRun) -> str:
        """A transform job that failed keeps the files that succeeded whole, as on SageMaker, and the
        lists of failed records; returns the log lines saying so."""
        if not (handle.workdir / "output/transform-report.json").is_file():
            return ""  # stopped or failed before it finished reading: nothing is complete
        lines: list[str] = []
        try:
            outputs = self._upload_transform(handle, lambda message: lines.append(f"[studio] {message}\n"))
        except BackendError as exc:
            return f"[studio] {exc}\n"
        handle.job.outputs = outputs
        Job.objects.filter(pk=handle.job.pk).update(outputs=outputs)
        return "".join(lines)

    def cleanup(self, handle: LocalRun) -> None:
        if handle.process is not None and handle.process.poll() is None:
            self._signal(handle, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                handle.process.wait(timeout=5)
        if handle.checkpoints is not None:
            # Whatever the outcome (stopped, failed, out of time), the last checkpoints are kept.
            handle.checkpoints.finish()
        shutil.rmtree(handle.workdir, ignore_errors=True)
