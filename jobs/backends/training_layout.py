"""SageMaker's training-container contract, laid out in a local job directory.

The directory stands in for ``/opt/ml``: ``input/config/{hyperparameters,inputdataconfig,
resourceconfig}.json``, ``input/data/<channel>/``, ``model/``, ``output/data/``,
``output/failure``, ``checkpoints/`` and ``code/``. The ``SM_*`` variables are those of
sagemaker-training-toolkit, so a script-mode script runs here unchanged.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import shutil
import socket
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from django.conf import settings

from jobs.backends.base import BackendError, StopRequested
from studio.artifacts import ArtifactError, StoredObject, download_prefix, sha256_of_stream, store_for

# Hyperparameters SageMaker's SDK adds for its own use; the toolkit strips them from the user's.
RESERVED_HYPERPARAMETERS = frozenset(
    {
        "sagemaker_program",
        "sagemaker_submit_directory",
        "sagemaker_container_log_level",
        "sagemaker_job_name",
        "sagemaker_region",
        "sagemaker_estimator_class_name",
        "sagemaker_estimator_module",
        "_tuning_objective_metric",
    }
)
FOLDERS = (
    "input/config",
    "input/data",
    "model",
    "output/data",
    "output/intermediate",
    "checkpoints",
    "code",
    "tmp",
)
PIP_TIMEOUT_SECONDS = 1800
logger = logging.getLogger(__name__)


def hosts(count: int) -> list[str]:
    return [f"algo-{index}" for index in range(1, count + 1)]


def decoded_hyperparameters(raw: dict[str, str]) -> dict:
    """The toolkit's view: each value ``json.loads``-ed, or kept as the raw string."""
    decoded = {}
    for key, value in raw.items():
        if key in RESERVED_HYPERPARAMETERS:
            continue
        try:
            decoded[key] = json.loads(value)
        except (TypeError, ValueError):
            decoded[key] = value
    return decoded


def hyperparameter_arguments(decoded: dict) -> list[str]:
    """``--key value`` from the sorted keys (``-k`` for one-letter keys), as the toolkit builds them."""
    arguments = []
    for key in sorted(decoded):
        value = decoded[key]
        text = ",".join(f"{k}={v}" for k, v in value.items()) if isinstance(value, dict) else str(value)
        arguments += [f"-{key}" if len(key) == 1 else f"--{key}", text]
    return arguments


def _env_value(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, separators=(",", ":"))


def write_config(job, workdir: Path) -> None:
    spec = job.spec
    config = workdir / "input/config"
    (config / "hyperparameters.json").write_text(json.dumps(spec.get("hyperparameters", {}), indent=2))
    (config / "inputdataconfig.json").write_text(json.dumps(input_data_config(spec), indent=2))
    (config / "resourceconfig.json").write_text(
        json.dumps(resource_config(job.instance_type, job.instance_count, "algo-1"), indent=2)
    )


def input_data_config(spec: dict) -> dict:
    config = {}
    for channel in spec.get("channels", []):
        entry = {
            "TrainingInputMode": channel.get("input_mode") or "File",
            "S3DistributionType": "FullyReplicated",
            "RecordWrapperType": "None",
        }
        if channel.get("content_type"):
            entry["ContentType"] = channel["content_type"]
        config[channel["name"]] = entry
    return config


def resource_config(instance_type: str, instance_count: int, current_host: str) -> dict:
    all_hosts = hosts(instance_count)
    return {
        "current_host": current_host,
        "current_instance_type": instance_type,
        "current_group_name": "homogeneousCluster",
        "hosts": all_hosts,
        "instance_groups": [
            {"instance_group_name": "homogeneousCluster", "instance_type": instance_type, "hosts": all_hosts}
        ],
        "network_interface_name": "lo",
    }


def sm_environment(job, workdir: Path, *, num_cpus: int, num_gpus: int, entry_point: str) -> dict[str, str]:
    """The toolkit's ``SM_*`` variables for host ``algo-1`` (each rank rewrites its own host)."""
    spec = job.spec
    channels = sorted(channel["name"] for channel in spec.get("channels", []))
    decoded = decoded_hyperparameters(spec.get("hyperparameters", {}))
    all_hosts = hosts(job.instance_count)
    paths = {
        "model_dir": workdir / "model",
        "output_data_dir": workdir / "output/data",
        "output_dir": workdir / "output",
        "output_intermediate_dir": workdir / "output/intermediate",
        "input_dir": workdir / "input",
        "input_config_dir": workdir / "input/config",
        "module_dir": workdir / "code",
    }
    channel_dirs = {name: str(workdir / "input/data" / name) for name in channels}
    module_name = entry_point.removesuffix(".py").replace("/", ".")
    user_args = hyperparameter_arguments(decoded)
    training_env = {
        "channel_input_dirs": channel_dirs,
        "current_host": "algo-1",
        "current_instance_type": job.instance_type,
        "hosts": all_hosts,
        "hyperparameters": decoded,
        "input_data_config": input_data_config(spec),
        "is_master": True,
        "job_name": job.name,
        "log_level": 20,
        "module_name": module_name,
        "network_interface_name": "lo",
        "num_cpus": num_cpus,
        "num_gpus": num_gpus,
        "resource_config": resource_config(job.instance_type, job.instance_count, "algo-1"),
        "user_entry_point": entry_point,
        **{key: str(value) for key, value in paths.items()},
    }
    env = {f"SM_{key.upper()}": str(value) for key, value in paths.items()}
    env.update(
        {
            "SM_CHANNELS": _env_value(channels),
            "SM_HPS": _env_value(decoded),
            "SM_HOSTS": _env_value(all_hosts),
            "SM_CURRENT_HOST": "algo-1",
            "SM_CURRENT_INSTANCE_TYPE": job.instance_type,
            "SM_NUM_CPUS": str(num_cpus),
            "SM_NUM_GPUS": str(num_gpus),
            "SM_NUM_NEURONS": "0",
            "SM_LOG_LEVEL": "20",
            "SM_NETWORK_INTERFACE_NAME": "lo",
            "SM_MODULE_NAME": module_name,
            "SM_USER_ENTRY_POINT": entry_point,
            "SM_FRAMEWORK_MODULE": "",
            "SM_FRAMEWORK_PARAMS": "{}",
            "SM_USER_ARGS": _env_value(user_args),
            "SM_RESOURCE_CONFIG": _env_value(training_env["resource_config"]),
            "SM_INPUT_DATA_CONFIG": _env_value(training_env["input_data_config"]),
            "SM_TRAINING_ENV": _env_value(training_env),
            # Not in the toolkit: where /opt/ml/checkpoints is on this machine.
            "SM_CHECKPOINT_DIR": str(workdir / "checkpoints"),
            "TRAINING_JOB_NAME": job.name,
            "TRAINING_JOB_ARN": f"arn:studio:sagemaker:local:000000000000:training-job/{job.name.lower()}",
        }
    )
    for name, path in channel_dirs.items():
        env[f"SM_CHANNEL_{name.upper()}"] = path
    for key, value in decoded.items():
        env[f"SM_HP_{key.upper()}"] = _env_value(value)
    return env


def fetch_channels(spec: dict, workdir: Path, report: Callable[[str], None]) -> None:
    for channel in spec.get("channels", []):
        target = workdir / "input/data" / channel["name"]
        target.mkdir(parents=True, exist_ok=True)
        try:
            objects = download_prefix(channel["source_uri"], target)
        except ArtifactError as exc:
            raise BackendError(f"ClientError: channel '{channel['name']}': {exc}") from exc
        size = sum(info.size for info in objects)
        report(
            f"Channel '{channel['name']}': {len(objects)} file(s), {size} bytes from {channel['source_uri']}"
        )


def fetch_verified(uri: str, sha256: str, path: Path, what: str) -> None:
    """Download ``uri`` to ``path`` and refuse it unless it still has the SHA-256 recorded at creation."""
    try:
        store_for(uri).get_file(uri, path)
    except ArtifactError as exc:
        raise BackendError(f"{what}: {exc}") from exc
    with open(path, "rb") as handle:
        digest = sha256_of_stream(handle)
    if digest != sha256:
        raise BackendError(
            f"{what} {uri} changed since the job was created "
            f"(SHA-256 {digest[:12]}…, expected {sha256[:12]}…); refusing to run it."
        )


def fetch_code(code: dict, workdir: Path) -> Path:
    """Put the user's code in ``code/`` (checked against its SHA-256); returns the entry point's path."""
    code_dir = workdir / "code"
    download = workdir / "tmp" / code["filename"]
    fetch_verified(code["uri"], code["sha256"], download, "Source")
    if code.get("archive"):
        _extract_source(download, code_dir)
    else:
        shutil.move(download, code_dir / code["filename"])
    entry = code_dir / code["entry_point"]
    if not entry.is_file():
        raise BackendError(f"ClientError: the entry point {code['entry_point']!r} is not in the source.")
    return entry


def _extract_source(archive: Path, target: Path) -> None:
    # The datasets app's extractor refuses absolute paths, '..', links and archive bombs.
    from datasets.formats import ArchiveLimits, FormatError, extract_archive

    kind = "zip" if archive.name.endswith(".zip") else "tar"
    try:
        extract_archive(
            archive, kind, target, ArchiveLimits(max_total_bytes=settings.STUDIO_ARCHIVE_MAX_BYTES)
        )
    except (FormatError, tarfile.TarError, OSError) as exc:
        raise BackendError(f"ClientError: the source archive could not be unpacked: {exc}") from exc


def python_for(code_dir: Path, report: Callable[[str], None], heartbeat: Callable[[], bool]) -> str:
    """The interpreter for the user's code: Studio's own, or a cached environment with its requirements.

    Environments are keyed by the SHA-256 of requirements.txt and built once (under a file lock,
    so two jobs never build the same one at the same time); they see Studio's packages too.
    """
    requirements = code_dir / "requirements.txt"
    if not requirements.is_file():
        return sys.executable
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()[:20]
    root = settings.STUDIO_CODE_ENV_DIR
    root.mkdir(parents=True, exist_ok=True)
    env_dir = root / digest
    python = env_dir / "bin" / "python"
    with open(root / f"{digest}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (env_dir / ".studio-ready").is_file():
            report(f"requirements.txt: using the cached environment {digest}")
            return str(python)
        shutil.rmtree(env_dir, ignore_errors=True)
        report(f"requirements.txt: building environment {digest}")
        try:
            subprocess.run(
                [sys.executable, "-m", "venv", "--system-site-packages", str(env_dir)],
                check=True,
                capture_output=True,
                timeout=300,
            )
        except (subprocess.SubprocessError, OSError) as exc:
            raise BackendError(f"Could not create an environment for requirements.txt: {exc}") from exc
        command = [
            str(python),
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "-r",
            str(requirements),
        ]
        try:
            code, tail = _run_reporting(command, code_dir, report, heartbeat)
        except BaseException:
            shutil.rmtree(env_dir, ignore_errors=True)  # never leave a half-built environment behind
            raise
        if code != 0:
            shutil.rmtree(env_dir, ignore_errors=True)
            raise BackendError(
                f"ClientError: requirements.txt failed to install (pip exited {code}):\n{tail}"
            )
        (env_dir / ".studio-ready").write_text(requirements.read_text())
    return str(python)


def _run_reporting(
    command: list[str], cwd: Path, report: Callable[[str], None], heartbeat: Callable[[], bool]
) -> tuple[int, str]:
    """Run ``command``, passing its output to ``report`` and keeping the job's heartbeat going; a
    stop request (``heartbeat()`` false) kills it and raises StopRequested."""
    process = subprocess.Popen(
        command,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    lines: list[str] = []

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line.rstrip())
            report(f"pip: {line.rstrip()}")

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    deadline = time.monotonic() + PIP_TIMEOUT_SECONDS
    while process.poll() is None:
        if time.monotonic() > deadline:
            process.kill()
            process.wait()
            lines.append(f"(stopped after {PIP_TIMEOUT_SECONDS} s)")
            break
        if not heartbeat():
            process.kill()
            process.wait()
            raise StopRequested("Stopped on request while requirements.txt was being installed.")
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=2)
    reader.join(timeout=5)
    return process.returncode, "\n".join(lines[-12:])[-800:]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def distributed_command(python: str, instance_count: int, program: list[str]) -> list[str]:
    """``torchrun`` with one process per instance; each rank becomes host ``algo-<rank+1>``."""
    try:
        import torch.distributed.run  # noqa: F401 - only to fail early when PyTorch is missing
    except ImportError as exc:
        raise BackendError("instance_count > 1 runs torchrun, which needs PyTorch installed.") from exc
    return [
        python,
        "-m",
        "torch.distributed.run",
        "--nnodes=1",
        f"--nproc_per_node={instance_count}",
        "--master_addr=127.0.0.1",
        f"--master_port={free_port()}",
        "-m",
        "jobs.runtime.rank",
        *program,
    ]


def pack(source: Path, destination: Path) -> None:
    """``source``'s contents at the root of a gzipped tarball, as SageMaker packs model/ and output/data/."""
    with tarfile.open(destination, "w:gz") as archive:
        for path in sorted(source.rglob("*")):
            if path.is_file() and not path.is_symlink():
                archive.add(path, arcname=str(path.relative_to(source)), recursive=False)


def upload_archive(source: Path, uri: str, scratch: Path) -> StoredObject:
    tarball = scratch / uri.rsplit("/", 1)[-1]
    pack(source, tarball)
    try:
        return store_for(uri).put_file(uri, tarball)
    finally:
        tarball.unlink(missing_ok=True)


class CheckpointSync:
    """Two-way checkpoints: restored into ``checkpoints/`` at start, uploaded as they change.

    Uploads run on a thread of their own (``start``), so a large checkpoint never holds up the job
    driver's loop (log reads, heartbeats, stop requests); ``finish`` uploads the last changes.
    """

    def __init__(self, uri: str, folder: Path) -> None:
        self.uri = uri
        self.folder = folder
        self.seen: dict[str, tuple[float, int]] = {}
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def restore(self) -> int:
        if not self.uri:
            return 0
        try:
            objects = download_prefix(self.uri, self.folder)
        except ArtifactError:
            return 0  # a first run: nothing saved yet
        self.remember()
        return len(objects)

    def remember(self) -> None:
        for path in self.folder.rglob("*"):
            if path.is_file():
                stat = path.stat()
                self.seen[str(path.relative_to(self.folder))] = (stat.st_mtime, stat.st_size)

    def start(self, interval: float) -> None:
        if self.uri:
            self._thread = threading.Thread(target=self._loop, args=(interval,), daemon=True)
            self._thread.start()

    def _loop(self, interval: float) -> None:
        while not self._stopping.wait(interval):
            self.upload_safely()

    def finish(self) -> None:
        """Stop the thread, then upload what changed since its last pass (however the job ended)."""
        if self._thread is not None:
            self._stopping.set()
            self._thread.join()
        self.upload_safely()

    def upload_safely(self) -> int:
        try:
            return self.upload_changes()
        except (ArtifactError, OSError):
            # A store hiccup must not end the job; the next pass (or the final one) tries again.
            logger.warning("checkpoint upload failed", exc_info=True, extra={"uri": self.uri})
            return 0

    def upload_changes(self) -> int:
        if not self.uri:
            return 0
        uploaded = 0
        for path in sorted(self.folder.rglob("*")):
            if not path.is_file() or path.is_symlink():
                continue
            name = str(path.relative_to(self.folder))
            with contextlib.suppress(FileNotFoundError):  # a file the script is replacing right now
                stat = path.stat()
                if self.seen.get(name) == (stat.st_mtime, stat.st_size):
                    continue
                store_for(self.uri).put_file(f"{self.uri.rstrip('/')}/{name}", path)
                self.seen[name] = (stat.st_mtime, stat.st_size)
                uploaded += 1
        return uploaded
