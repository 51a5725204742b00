"""Studio's jobs and models as SageMaker requests: the kwargs of the boto3 ``create_*`` calls.

Each request is a function of the job (or model), the project's AWS settings and a ``Stager``,
which puts the files the request names in the project's S3, or in a dry run only says where they
would go. Requests are deterministic (no timestamps, names derived from Studio's names, sorted
maps), so a dry run shows exactly what a real submit sends.

Where files go, under the project's ``s3_root``:

- ``staged/<kind>-jobs/<job>/...``: inputs copied from Studio's store (channels, scripts, data);
  ``staged/models/<sha256>/model.tar.gz``: a model's artifact. Not copied when Studio's store is
  the project's S3 (same endpoint): SageMaker reads Studio's URIs in place.
- ``<kind>-jobs/<job>/source/sourcedir.tar.gz``: the user's code, as the SDK packs it;
  ``models/<sha256>/code-<digest>/sourcedir.tar.gz``: a model's inference code.
- ``training-jobs/<sagemaker name>/output/model.tar.gz``: what training writes (S3OutputPath);
  ``processing-jobs/<job>/output/<name>/``, ``transform-jobs/<job>/output/``: other outputs.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import itertools
import json
import re
import tarfile
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from django.conf import settings

from cloud.errors import AWS_ERRORS
from cloud.models import AwsSettings
from jobs.backends.base import BackendError
from jobs.backends.sagemaker.images import (
    BUILTIN_ALIASES,
    DEFAULT_FRAMEWORK,
    algorithm_image,
    framework_image,
)
from jobs.backends.sagemaker.staging import RetryLater, StagedInput, Stager, backend_error
from jobs.models import Backend, Job, JobKind
from studio.artifacts import ArtifactError, store_for

__all__ = [
    "RetryLater",
    "job_request",
    "model_request",
    "sagemaker_job_name",
    "transform_model_name",
]

MAX_NAME_LENGTH = 63
MAX_TUNING_NAME_LENGTH = 32
SAGEMAKER_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
DEFAULT_VOLUME_GB = 30
CONTAINER_LOG_LEVEL = 20
CHECKPOINT_LOCAL_PATH = "/opt/ml/checkpoints"
PROCESSING_INPUT_ROOT = "/opt/ml/processing/input"
PROCESSING_OUTPUT_ROOT = "/opt/ml/processing/output"
SOURCEDIR = "sourcedir.tar.gz"
# The entry point of models served by the scikit-learn container (see studio_inference.py).
INFERENCE_SHIM = Path(__file__).with_name("studio_inference.py")
INFERENCE_SHIM_NAME = "studio_inference.py"
DEFAULT_INFERENCE_PROGRAM = "inference.py"
# Studio's built-ins read a channel without a ContentType by file extension (CSV otherwise);
# SageMaker's images need it said.
BUILTIN_CONTENT_TYPES = {
    ".parquet": "application/x-parquet",
    ".pq": "application/x-parquet",
    ".libsvm": "text/libsvm",
    ".svm": "text/libsvm",
    ".svmlight": "text/libsvm",
}
# SageMaker's first-party images that do not start without ``feature_dim`` (sagemaker-contracts.md
# §3); Studio's built-ins read it from the data, so the request says it. linear-learner's defaults
# to "auto": its image reads the width itself.
FEATURE_DIM_REQUIRED = frozenset({"k-means", "pca", "random-cut-forest", "knn"})
# The first line of a CSV file is read in pieces of this size, up to its end.
FIRST_LINE_CHUNK = 64 * 1024


# --- Names -----------------------------------------------------------------------------------------


def fitted_name(wanted: str, identity: str, limit: int, *, always_hashed: bool = False) -> str:
    """``wanted`` when it is a valid SageMaker name within ``limit``; else (or ``always_hashed``) a
    truncated form + "-" + 8 hex of sha256(identity), which stays unique per identity."""
    cleaned = re.sub(r"[^a-zA-Z0-9-]", "-", wanted).strip("-")
    if not always_hashed and cleaned == wanted and len(wanted) <= limit and SAGEMAKER_NAME.match(wanted):
        return wanted
    digest = hashlib.sha256(identity.encode()).hexdigest()[:8]
    head = cleaned[: limit - len(digest) - 1].strip("-")
    return f"{head}-{digest}" if head else digest


def _job_name(project: str, kind: str, name: str) -> str:
    limit = MAX_TUNING_NAME_LENGTH if kind == JobKind.TUNING else MAX_NAME_LENGTH
    return fitted_name(f"{project}-{name}", f"{project}/{kind}/{name}", limit)


def sagemaker_job_name(job: Job) -> str:
    """The job's name on SageMaker, unique in the account: ``<project>-<name>`` when that fits
    (63 characters; 32 for tuning jobs), else a truncated form with a hash of project/kind/name."""
    return _job_name(job.project.name, job.kind, job.name)


def transform_model_name(job: Job) -> str:
    """The SageMaker model a transform job runs (see ``model_name``)."""
    return model_name(job.project.name, job.spec["model"])


def model_name(project: str, model: dict) -> str:
    """A Studio model's name on SageMaker, shared by its transform jobs and endpoints: named from
    the project, the model's name and a digest of what it serves (artifact, code, environment),
    so a changed model gets a new name."""
    served = {
        "artifact_sha256": model["artifact_sha256"],
        "code_sha256": (model.get("code") or {}).get("sha256", ""),
        "environment": model.get("environment") or {},
        "algorithm": model.get("algorithm", ""),
    }
    identity = json.dumps(served, sort_keys=True)
    return fitted_name(f"{project}-{model['name']}", identity, MAX_NAME_LENGTH, always_hashed=True)


# --- Shared pieces ---------------------------------------------------------------------------------


def _tags(project: str, tags: dict, **studio: str) -> list[dict[str, str]]:
    """The job's tags plus Studio's own (``studio:project``, ...), sorted by key."""
    pairs = {str(key): str(value) for key, value in (tags or {}).items()}
    pairs["studio:project"] = project
    pairs.update({f"studio:{key.replace('_', '-')}": value for key, value in studio.items()})
    return [{"Key": key, "Value": value} for key, value in sorted(pairs.items())]


def _vpc_config(aws: AwsSettings) -> dict | None:
    """The VpcConfig of the project's AWS settings (which keep subnets and security groups paired)."""
    if not aws.vpc_subnets:
        return None
    return {"SecurityGroupIds": list(aws.vpc_security_group_ids), "Subnets": list(aws.vpc_subnets)}


def _sorted(mapping: dict | None) -> dict[str, str]:
    return {str(key): str(value) for key, value in sorted((mapping or {}).items())}


def _check_ready(aws: AwsSettings) -> None:
    if not aws.role_arn or not aws.bucket:
        raise BackendError(
            "The project's AWS settings need an execution role ARN and an S3 bucket to run on SageMaker."
        )


def _read_verified(uri: str, sha256: str, what: str) -> bytes:
    """A small file from Studio's store (code, a script), refused if it changed since it was stored."""
    try:
        with store_for(uri).open(uri) as handle:
            data = handle.read(settings.STUDIO_MAX_SOURCE_BYTES + 1)
    except ArtifactError as exc:
        raise BackendError(f"{what}: {exc}") from exc
    digest = hashlib.sha256(data).hexdigest()
    if sha256 and digest != sha256:
        raise BackendError(
            f"{what} {uri} changed since the job was created (SHA-256 {digest[:12]}…, expected "
            f"{sha256[:12]}…); refusing to send it."
        )
    return data


def _tar_gz(files: Iterable[tuple[str, BinaryIO, int]]) -> bytes:
    """A gzipped tarball of ``(name, stream, size)``, byte-for-byte the same for the same files
    (no timestamps, owners or modes from this machine), so an unchanged upload is skipped."""
    buffer = io.BytesIO()
    with (
        gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0, filename="") as zipped,
        tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as archive,
    ):
        for name, stream, size in files:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = size, 0, 0o644
            archive.addfile(info, stream)
    return buffer.getvalue()


def _code_files(code: dict, what: str) -> Iterator[tuple[str, BinaryIO, int]]:
    """The files of Studio's stored ``code`` (a .py, or an archive's members, in archive order) as
    ``(name, stream, size)``; an archive is read as it is consumed, never held whole in memory."""
    data = _read_verified(code["uri"], code.get("sha256", ""), what)
    if not code.get("archive"):
        yield code["filename"], io.BytesIO(data), len(data)
        return
    # The datasets app's reader refuses absolute paths, '..', links and archive bombs.
    from datasets.formats import ArchiveLimits, FormatError, iter_archive

    kind = "zip" if code["filename"].endswith(".zip") else "tar"
    with tempfile.TemporaryDirectory(dir=settings.DATA_DIR) as scratch:
        path = Path(scratch) / code["filename"]
        path.write_bytes(data)
        del data
        try:
            limits = ArchiveLimits(max_total_bytes=settings.STUDIO_ARCHIVE_MAX_BYTES)
            for member, stream in iter_archive(path, kind, limits):
                yield member.name, stream, member.size
        except (FormatError, tarfile.TarError, OSError, EOFError) as exc:
            raise BackendError(f"{what}: the archive could not be unpacked: {exc}") from exc


def _staged_channel(
    stager: Stager, channel: dict, key: str, *, builtin: dict | None
) -> tuple[dict, StagedInput]:
    """A channel of InputDataConfig, and what was staged for it."""
    staged = stager.stage_input(channel["source_uri"], key=key, label=f"channel {channel['name']}")
    entry: dict = {
        "ChannelName": channel["name"],
        "DataSource": {
            "S3DataSource": {
                "S3DataType": "S3Prefix",
                "S3Uri": staged.s3_data_uri,
                "S3DataDistributionType": "FullyReplicated",
            }
        },
        "InputMode": channel.get("input_mode") or "File",
    }
    content_type = channel.get("content_type") or (_builtin_content_type(staged, builtin) if builtin else "")
    if content_type:
        entry["ContentType"] = content_type
    return entry, staged


def _builtin_content_type(staged: StagedInput, builtin: dict) -> str:
    """What Studio's built-ins read a channel without a ContentType as, said the way SageMaker's
    images need it (their own default is libsvm or recordio-protobuf)."""
    suffixes = {
        PurePosixPath(path).suffix.lower()
        for path in staged.relative_paths
        if not any(part.startswith(".") for part in PurePosixPath(path).parts)
    }
    kinds = {BUILTIN_CONTENT_TYPES.get(suffix, "text/csv") for suffix in suffixes}
    if len(kinds) != 1:
        return ""  # mixed formats: SageMaker reads one per channel; let it say so
    kind = kinds.pop()
    if kind == "text/csv" and not builtin["supervised"]:
        return "text/csv;label_size=0"
    return kind


def _csv_label_columns(content_type: str, *, supervised: bool) -> int | None:
    """How many label columns lead each row of a ``text/csv`` channel: its ``label_size``, else one
    for a supervised algorithm and none for an unsupervised one (as Studio's built-ins read it).
    None when the content type is not CSV."""
    media, *params = (part.strip() for part in content_type.split(";"))
    if media.lower() != "text/csv":
        return None
    for param in params:
        key, _, value = param.partition("=")
        if key.strip().lower() == "label_size":
            try:
                return int(value.strip())
            except ValueError:
                raise BackendError(
                    f"feature_dim: the train channel's content type {content_type!r} has a label_size "
                    "that is not a number; set feature_dim in the hyperparameters."
                ) from None
    return 1 if supervised else 0


def _first_csv_object(staged: StagedInput) -> str | None:
    """The first file SageMaker reads of a channel (sorted, hidden and empty files left out)."""
    candidates = sorted(
        (path, info.uri)
        for path, info in zip(staged.relative_paths, staged.objects, strict=True)
        if info.size > 0 and not any(part.startswith(".") for part in PurePosixPath(path).parts)
    )
    return candidates[0][1] if candidates else None


def _first_line_columns(uri: str) -> int:
    """The number of comma-separated columns on the first line of ``uri`` in Studio's store (0 for
    a blank line); only that line is read, in pieces, so memory stays bounded."""
    columns, blank = 1, True
    try:
        with store_for(uri).open(uri) as handle:
            while chunk := handle.read(FIRST_LINE_CHUNK):
                line, newline, _ = chunk.partition(b"\n")
                columns += line.count(b",")
                blank = blank and not line.strip()
                if newline:
                    break
    except (ArtifactError, OSError) as exc:
        raise BackendError(f"feature_dim: {uri} could not be read: {exc}") from exc
    except AWS_ERRORS as exc:  # Studio's own store is S3
        raise backend_error(exc, action=f"reading {uri} for feature_dim") from exc
    return 0 if blank else columns


def _inferred_feature_dim(
    algorithm: str, channels: list[tuple[dict, StagedInput]], *, supervised: bool
) -> int:
    """``feature_dim`` for SageMaker's ``algorithm``, from the train channel as its image reads it:
    the columns of the first line of its first CSV file, less the label columns. The same bytes
    are read in a dry run and in a real one, so both give the same value."""
    needs = f"SageMaker's {algorithm} needs the feature_dim hyperparameter"
    train = next(((entry, staged) for entry, staged in channels if entry["ChannelName"] == "train"), None)
    if train is None:
        raise BackendError(f"{needs}, and the job has no train channel to read it from: set feature_dim.")
    entry, staged = train
    content_type = entry.get("ContentType", "")
    label_columns = _csv_label_columns(content_type, supervised=supervised)
    if label_columns is None:
        said = f"is {content_type}" if content_type else "mixes formats"
        raise BackendError(
            f"{needs}; Studio reads it only from CSV data, and the train channel {said}: set feature_dim "
            "in the hyperparameters."
        )
    uri = _first_csv_object(staged)
    columns = _first_line_columns(uri) if uri else 0
    if columns == 0:
        where = f"the first line of {uri} is empty" if uri else "the train channel holds only empty files"
        raise BackendError(f"{needs}, and {where}: set feature_dim in the hyperparameters.")
    if columns <= label_columns:
        raise BackendError(
            f"{needs}, and the first line of {uri} has {columns} column(s), none of them a feature after "
            f"{label_columns} label column(s): set feature_dim in the hyperparameters."
        )
    return columns - label_columns


# --- Training (and a tuning job's training definition) ----------------------------------------------


def _training_definition(job: Job) -> dict:
    """A training job's request in the shape of a tuning job's ``training_definition``."""
    return {
        **job.spec,
        "instance_type": job.instance_type,
        "instance_count": job.instance_count,
        "max_runtime_seconds": job.max_runtime_seconds,
        "metric_definitions": job.metric_definitions,
        "tags": job.tags,
    }


def _source_uri(code: dict, stager: Stager, key: str) -> str:
    """The user's code as the SDK's ``sourcedir.tar.gz`` (a .py inside, or the archive repacked)."""
    if stager.dry_run:
        return stager.s3_uri(key)  # the same URI; nothing is read or packed
    return stager.put_bytes(_tar_gz(_code_files(code, "Source")), key)


def _training_parts(
    definition: dict, aws: AwsSettings, stager: Stager, *, sagemaker_name: str, key: str
) -> tuple[dict, dict[str, str]]:
    """What CreateTrainingJob and a tuning job's TrainingJobDefinition share, and the hyperparameters."""
    from jobs.algorithms.registry import UnknownAlgorithm, algorithm_get

    algorithm_name = (definition.get("algorithm") or {}).get("name")
    hyperparameters = _sorted(definition.get("hyperparameters"))
    builtin = None
    if algorithm_name:
        image = algorithm_image(algorithm_name, aws.region)
        canonical = BUILTIN_ALIASES.get(algorithm_name, algorithm_name)
        try:
            builtin = {"name": canonical, "supervised": algorithm_get(canonical).supervised}
        except UnknownAlgorithm:
            builtin = {"name": canonical, "supervised": True}
        # SageMaker's images define their own metrics (MetricDefinitions are for your own code).
        algorithm_specification = {"TrainingImage": image, "TrainingInputMode": "File"}
    else:
        code = definition["code"]
        # The definition's framework container (scikit-learn for jobs made before the choice);
        # script mode's hyperparameters below are the same in every framework's toolkit.
        image = framework_image(
            aws.region,
            purpose="training",
            framework=definition.get("framework") or DEFAULT_FRAMEWORK,
            version=definition.get("framework_version") or "",
            instance_type=definition["instance_type"],
        )
        source_uri = _source_uri(code, stager, f"{key}/source/{SOURCEDIR}")
        # Framework estimators JSON-encode these; the training toolkit strips them from the user's.
        hyperparameters.update(
            {
                "sagemaker_container_log_level": json.dumps(CONTAINER_LOG_LEVEL),
                "sagemaker_job_name": json.dumps(sagemaker_name),
                "sagemaker_program": json.dumps(code["entry_point"]),
                "sagemaker_region": json.dumps(aws.region),
                "sagemaker_submit_directory": json.dumps(source_uri),
            }
        )
        algorithm_specification = {"TrainingImage": image, "TrainingInputMode": "File"}
        if definition.get("metric_definitions"):
            algorithm_specification["MetricDefinitions"] = [
                {"Name": item["name"], "Regex": item["regex"]} for item in definition["metric_definitions"]
            ]
    runtime = int(definition["max_runtime_seconds"])
    stopping: dict = {"MaxRuntimeInSeconds": runtime}
    parts: dict = {
        "AlgorithmSpecification": algorithm_specification,
        "RoleArn": aws.role_arn,
    }
    staged_channels = [
        _staged_channel(stager, channel, f"{key}/input/{channel['name']}", builtin=builtin)
        for channel in definition.get("channels", [])
    ]
    if builtin and builtin["name"] in FEATURE_DIM_REQUIRED and "feature_dim" not in hyperparameters:
        feature_dim = _inferred_feature_dim(
            builtin["name"], staged_channels, supervised=builtin["supervised"]
        )
        hyperparameters = _sorted({**hyperparameters, "feature_dim": feature_dim})
    channels = [entry for entry, _ in staged_channels]
    if channels:
        parts["InputDataConfig"] = channels
    output: dict = {"S3OutputPath": stager.s3_uri("training-jobs")}
    if aws.kms_key_id:
        output["KmsKeyId"] = aws.kms_key_id
    parts["OutputDataConfig"] = output
    parts["ResourceConfig"] = {
        "InstanceType": definition["instance_type"],
        "InstanceCount": int(definition["instance_count"]),
        "VolumeSizeInGB": int(definition.get("volume_size_gb") or DEFAULT_VOLUME_GB),
    }
    if definition.get("managed_spot"):
        max_wait = int(definition.get("max_wait_seconds") or 2 * runtime)
        if max_wait < runtime:
            raise BackendError(
                f"Spot training waits at most max_wait_seconds ({max_wait}), which must be at least the "
                f"job's max runtime ({runtime} s)."
            )
        stopping["MaxWaitTimeInSeconds"] = max_wait
        parts["EnableManagedSpotTraining"] = True
    parts["StoppingCondition"] = stopping
    if definition.get("checkpoint_uri"):
        # SageMaker syncs /opt/ml/checkpoints with this prefix while the job runs.
        parts["CheckpointConfig"] = {
            "S3Uri": stager.s3_uri(key, "checkpoints"),
            "LocalPath": CHECKPOINT_LOCAL_PATH,
        }
    if definition.get("environment"):
        parts["Environment"] = _sorted(definition["environment"])
    if vpc := _vpc_config(aws):
        parts["VpcConfig"] = vpc
    return parts, hyperparameters


def _training_request(job: Job, aws: AwsSettings, stager: Stager) -> dict:
    name = sagemaker_job_name(job)
    parts, hyperparameters = _training_parts(
        _training_definition(job), aws, stager, sagemaker_name=name, key=f"training-jobs/{job.name}"
    )
    request: dict = {"TrainingJobName": name}
    if hyperparameters:
        request["HyperParameters"] = hyperparameters
    request.update(parts)
    request["Tags"] = _tags(job.project.name, job.tags, job_uuid=str(job.uuid))
    return request


# --- Tuning ------------------------------------------------------------------------------------------


def _parent_tuning_names(job: Job, parents: list[dict]) -> list[str]:
    """The SageMaker names of the warm-start parents, which must have run there too."""
    names = [parent["name"] for parent in parents]
    found = {
        parent.name: parent
        for parent in Job.objects.filter(project=job.project, kind=JobKind.TUNING, name__in=names)
    }
    sagemaker_names = []
    for name in names:
        parent = found.get(name)
        if parent is not None and parent.backend != Backend.SAGEMAKER:
            raise BackendError(
                f"Warm start parent {name} ran on the {parent.backend} backend; SageMaker warm-starts only "
                "from its own tuning jobs. Drop the parent, or run this tuning job locally."
            )
        sagemaker_names.append(_job_name(job.project.name, JobKind.TUNING, name))
    return sagemaker_names


def _tuning_request(job: Job, aws: AwsSettings, stager: Stager) -> dict:
    from jobs.services.tuning import parameter_ranges_dict

    spec = job.spec
    name = sagemaker_job_name(job)
    definition = spec["training_definition"]
    parts, hyperparameters = _training_parts(
        definition, aws, stager, sagemaker_name=name, key=f"tuning-jobs/{job.name}"
    )
    tuned = {item["name"] for item in spec["ranges"]}
    training_job_definition = {
        "StaticHyperParameters": {key: value for key, value in hyperparameters.items() if key not in tuned},
        **parts,
    }
    limits = spec["resource_limits"]
    resource_limits = {
        "MaxNumberOfTrainingJobs": limits["max_number_of_training_jobs"],
        "MaxParallelTrainingJobs": limits["max_parallel_training_jobs"],
    }
    if limits.get("max_runtime_seconds"):
        resource_limits["MaxRuntimeInSeconds"] = limits["max_runtime_seconds"]
    config: dict = {
        "Strategy": spec["strategy"],
        "HyperParameterTuningJobObjective": {
            "Type": spec["objective"]["type"],
            "MetricName": spec["objective"]["metric_name"],
        },
        "ResourceLimits": resource_limits,
        "ParameterRanges": {
            group: ranges for group, ranges in parameter_ranges_dict(spec["ranges"]).items() if ranges
        },
        "TrainingJobEarlyStoppingType": spec.get("training_job_early_stopping_type") or "Off",
    }
    hyperband = (spec.get("strategy_config") or {}).get("hyperband")
    if hyperband:
        config["StrategyConfig"] = {
            "HyperbandStrategyConfig": {
                "MinResource": hyperband["min_resource"],
                "MaxResource": hyperband["max_resource"],
            }
        }
    request: dict = {
        "HyperParameterTuningJobName": name,
        "HyperParameterTuningJobConfig": config,
        "TrainingJobDefinition": training_job_definition,
    }
    warm_start = spec.get("warm_start")
    if warm_start and warm_start.get("parents"):
        request["WarmStartConfig"] = {
            "ParentHyperParameterTuningJobs": [
                {"HyperParameterTuningJobName": parent}
                for parent in _parent_tuning_names(job, warm_start["parents"])
            ],
            "WarmStartType": warm_start["type"],
        }
    request["Tags"] = _tags(job.project.name, job.tags, job_uuid=str(job.uuid))
    return request


# --- Processing --------------------------------------------------------------------------------------


def _processing_request(job: Job, aws: AwsSettings, stager: Stager) -> dict:
    spec = job.spec
    if "entrypoint" in spec:
        module = spec["entrypoint"].get("module", "")
        raise BackendError(
            f"Processing job {job.name} runs Studio's own {module} and needs Studio's code: run it on "
            "the local backend."
        )
    name = sagemaker_job_name(job)
    key = f"processing-jobs/{job.name}"
    script = spec["script"]
    code = stager.stage_input(
        script["uri"], key=f"{key}/code", label="the script", expected_sha256=script.get("sha256", "")
    )
    inputs = [_processing_input("code", code, f"{PROCESSING_INPUT_ROOT}/code")]
    for item in spec.get("inputs", []):
        staged = stager.stage_input(
            item["source_uri"], key=f"{key}/input/{item['name']}", label=f"input {item['name']}"
        )
        inputs.append(_processing_input(item["name"], staged, f"{PROCESSING_INPUT_ROOT}/{item['name']}"))
    app: dict = {
        "ImageUri": framework_image(aws.region, purpose="processing"),
        "ContainerEntrypoint": ["python3", f"{PROCESSING_INPUT_ROOT}/code/{script['filename']}"],
    }
    if spec.get("arguments"):
        app["ContainerArguments"] = list(spec["arguments"])
    request: dict = {
        "ProcessingJobName": name,
        "ProcessingResources": {
            "ClusterConfig": {
                "InstanceCount": job.instance_count,
                "InstanceType": job.instance_type,
                "VolumeSizeInGB": int(spec.get("volume_size_gb") or DEFAULT_VOLUME_GB),
            }
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": job.max_runtime_seconds},
        "AppSpecification": app,
        "ProcessingInputs": inputs,
    }
    outputs = [
        {
            "OutputName": item["name"],
            "S3Output": {
                "S3Uri": stager.s3_uri("processing-jobs", job.name, "output", item["name"]),
                "LocalPath": f"{PROCESSING_OUTPUT_ROOT}/{item['name']}",
                "S3UploadMode": "EndOfJob",
            },
        }
        for item in spec.get("outputs", [])
    ]
    if outputs:
        request["ProcessingOutputConfig"] = {"Outputs": outputs}
        if aws.kms_key_id:
            request["ProcessingOutputConfig"]["KmsKeyId"] = aws.kms_key_id
    if spec.get("environment"):
        request["Environment"] = _sorted(spec["environment"])
    if vpc := _vpc_config(aws):
        request["NetworkConfig"] = {"VpcConfig": vpc}
    request["RoleArn"] = aws.role_arn
    request["Tags"] = _tags(job.project.name, job.tags, job_uuid=str(job.uuid))
    return request


def _processing_input(name: str, staged: StagedInput, local_path: str) -> dict:
    return {
        "InputName": name,
        "S3Input": {
            "S3Uri": staged.s3_data_uri,
            "LocalPath": local_path,
            "S3DataType": "S3Prefix",
            "S3InputMode": "File",
            "S3DataDistributionType": "FullyReplicated",
        },
    }


# --- Transform and models --------------------------------------------------------------------------


def _transform_request(job: Job, aws: AwsSettings, stager: Stager) -> dict:
    spec = job.spec
    staged = stager.stage_input(
        spec["input"]["source_uri"], key=f"transform-jobs/{job.name}/input", label="the input"
    )
    transform_input: dict = {
        "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": staged.s3_data_uri}},
        "CompressionType": spec["input"].get("compression") or "None",
        "SplitType": spec["input"].get("split_type") or "None",
    }
    if spec["input"].get("content_type"):
        transform_input["ContentType"] = spec["input"]["content_type"]
    output: dict = {
        "S3OutputPath": stager.s3_uri("transform-jobs", job.name, "output"),
        "AssembleWith": spec["output"].get("assemble_with") or "None",
    }
    if spec["output"].get("accept"):
        output["Accept"] = spec["output"]["accept"]
    if aws.kms_key_id:
        output["KmsKeyId"] = aws.kms_key_id
    processing = spec.get("data_processing") or {}
    request: dict = {
        "TransformJobName": sagemaker_job_name(job),
        "ModelName": transform_model_name(job),
        "TransformInput": transform_input,
        "TransformOutput": output,
        "TransformResources": {"InstanceType": job.instance_type, "InstanceCount": job.instance_count},
        "BatchStrategy": spec["batch_strategy"],
        "MaxPayloadInMB": spec["max_payload_mb"],
        "DataProcessing": {
            "InputFilter": processing.get("input_filter") or "$",
            "OutputFilter": processing.get("output_filter") or "$",
            "JoinSource": processing.get("join_source") or "None",
        },
    }
    if spec.get("max_concurrent_transforms"):
        request["MaxConcurrentTransforms"] = spec["max_concurrent_transforms"]
    if spec.get("environment"):
        request["Environment"] = _sorted(spec["environment"])
    request["Tags"] = _tags(job.project.name, job.tags, job_uuid=str(job.uuid))
    return request


def _served_algorithm(model: dict) -> str:
    """The built-in that serves ``model`` ("" for the user's code), refusing a built-in model
    trained here: its artifact is in Studio's format, which SageMaker's images cannot load."""
    from endpoints.models import Model  # endpoints builds on jobs

    algorithm = model.get("algorithm")
    stored = None
    if model.get("uuid"):
        stored = Model.objects.select_related("training_job").filter(uuid=model["uuid"]).first()
    if algorithm is None:
        # Transform jobs created before their model snapshot carried the algorithm.
        algorithm = stored.algorithm if stored is not None else ""
    trained_by = stored.training_job if stored is not None else None
    if algorithm and trained_by is not None and trained_by.backend != Backend.SAGEMAKER:
        raise BackendError(
            f"Model {model['name']} was trained by Studio's own {algorithm} on the {trained_by.backend} "
            f"backend; SageMaker's {algorithm} image cannot load that artifact. Train it on the sagemaker "
            "backend, or run this on the local backend."
        )
    return algorithm or ""


def _inference_source(model: dict, stager: Stager) -> tuple[str, str]:
    """The model's ``sourcedir.tar.gz`` (Studio's entry point, plus the model's own code when it
    was added beside the artifact) and the program that entry point serves with."""
    code = model.get("code") or {}
    environment = model.get("environment") or {}
    program = code.get("entry_point") or environment.get("SAGEMAKER_PROGRAM") or DEFAULT_INFERENCE_PROGRAM
    shim = INFERENCE_SHIM.read_bytes()
    digest = hashlib.sha256(shim + code.get("sha256", "").encode()).hexdigest()[:16]
    key = f"models/{model['artifact_sha256']}/code-{digest}/{SOURCEDIR}"
    if stager.dry_run:
        return stager.s3_uri(key), program
    files: Iterable[tuple[str, BinaryIO, int]] = [(INFERENCE_SHIM_NAME, io.BytesIO(shim), len(shim))]
    if code:
        files = itertools.chain(files, _code_files(code, f"Model {model['name']}'s inference code"))
    return stager.put_bytes(_tar_gz(files), key), program


def model_request(model: dict, aws: AwsSettings, stager: Stager, *, name: str) -> dict:
    """CreateModel for a Studio model given as ``{name, algorithm, artifact_uri, artifact_sha256,
    code, environment}`` (a transform job's ``spec["model"]``; ``uuid`` lets an older snapshot
    without ``algorithm`` find it)."""
    _check_ready(aws)
    algorithm = _served_algorithm(model)
    artifact = stager.stage_input(
        model["artifact_uri"],
        key=f"models/{model['artifact_sha256']}",
        label=f"model {model['name']}",
        expected_sha256=model["artifact_sha256"],
    )
    if artifact.is_prefix:
        raise BackendError(f"Model {model['name']}: {model['artifact_uri']} is a folder, not a model.tar.gz.")
    environment = dict(model.get("environment") or {})
    if algorithm:
        container: dict = {"Image": algorithm_image(algorithm, aws.region), "ModelDataUrl": artifact.uri}
    else:
        source_uri, program = _inference_source(model, stager)
        container = {"Image": framework_image(aws.region, purpose="inference"), "ModelDataUrl": artifact.uri}
        environment.update(
            {
                "SAGEMAKER_PROGRAM": INFERENCE_SHIM_NAME,
                "SAGEMAKER_SUBMIT_DIRECTORY": source_uri,
                "SAGEMAKER_CONTAINER_LOG_LEVEL": str(CONTAINER_LOG_LEVEL),
                "SAGEMAKER_REGION": aws.region,
                "STUDIO_USER_PROGRAM": program,
            }
        )
    if environment:
        container["Environment"] = _sorted(environment)
    request: dict = {
        "ModelName": name,
        "PrimaryContainer": container,
        "ExecutionRoleArn": aws.role_arn,
    }
    if vpc := _vpc_config(aws):
        request["VpcConfig"] = vpc
    request["Tags"] = _tags(aws.project.name, {}, model=model["name"])
    return request


# --- Entry point -------------------------------------------------------------------------------------

BUILDERS = {
    JobKind.TRAINING: ("CreateTrainingJob", _training_request),
    JobKind.PROCESSING: ("CreateProcessingJob", _processing_request),
    JobKind.TRANSFORM: ("CreateTransformJob", _transform_request),
    JobKind.TUNING: ("CreateHyperParameterTuningJob", _tuning_request),
}


def job_request(job: Job, aws: AwsSettings, stager: Stager) -> tuple[str, dict]:
    """The SageMaker operation for ``job`` and the kwargs of its boto3 call (the files it names are
    staged by ``stager``, or only located in a dry run)."""
    _check_ready(aws)
    if job.kind not in BUILDERS:
        raise BackendError(f"{job.kind} jobs do not run on the sagemaker backend.")
    operation, build = BUILDERS[JobKind(job.kind)]
    return operation, build(job, aws, stager)
