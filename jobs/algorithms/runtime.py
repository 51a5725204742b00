"""The job side of a built-in algorithm: SageMaker's training-container contract in one process.

Studio starts ``python -u -m jobs.algorithms <name>`` in the job's working directory (it stands in
for ``/opt/ml``) with the toolkit's environment:

- ``SM_INPUT_CONFIG_DIR``: ``hyperparameters.json`` (all values strings) and ``inputdataconfig.json``;
- ``SM_CHANNELS`` and ``SM_CHANNEL_<NAME>``: each channel's folder;
- ``SM_MODEL_DIR``: the model goes here (``algorithm.json`` and the algorithm's files);
- ``SM_OUTPUT_DATA_DIR``: ``evaluation.json``; ``SM_OUTPUT_DIR``: ``failure`` when the job fails;
- ``SM_NUM_CPUS``, ``SM_NUM_GPUS``.

Missing variables fall back to the ``/opt/ml`` layout under the working directory. ``main`` reads
the hyperparameters and channels, hands a ``TrainingContext`` to the algorithm module's
``train(ctx)``, then reloads the saved model (``load_model``, as serving will), prints the final
metrics lines and writes the evaluation. Any error ends the process with status 1 and a
``failure`` file: ``ClientError: ...`` for what the user must fix, ``AlgorithmError: ...`` for the
rest (with the traceback on stderr).

The final metrics line covers train (on a seeded sample of at most ``FINAL_TRAIN_SAMPLE`` rows),
validation and test with every metric of the problem, from the saved model; the algorithms' own
per-iteration lines come before it.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jobs.algorithms.errors import ClientError
from jobs.algorithms.registry import Algorithm, HyperparameterError, UnknownAlgorithm, algorithm_get

MANIFEST = "algorithm.json"
FORMAT_VERSION = 1
EVALUATION_FILE = "evaluation.json"
# The final train line is measured on at most this many train rows (a seeded sample): predicting
# the whole train channel again would cost a noticeable share of a short job.
FINAL_TRAIN_SAMPLE = 20_000
# Hyperparameters the SDK and tuning jobs add for the platform, never for the algorithm.
_RESERVED_PREFIXES = ("sagemaker_", "_")


@dataclass(frozen=True)
class TrainingEnv:
    """Where the job's inputs and outputs live, from the ``SM_*`` variables."""

    config_dir: Path
    channel_dirs: dict[str, Path]
    model_dir: Path
    output_dir: Path
    output_data_dir: Path
    num_cpus: int
    num_gpus: int

    @classmethod
    def from_environ(cls, environ: dict[str, str] | None = None, cwd: Path | None = None) -> TrainingEnv:
        environ = dict(os.environ if environ is None else environ)
        base = Path.cwd() if cwd is None else cwd

        def path(key: str, default: str) -> Path:
            return Path(environ.get(key) or base / default)

        config_dir = path("SM_INPUT_CONFIG_DIR", "input/config")
        names = _channel_names(environ, config_dir)
        channel_dirs = {
            name: Path(environ.get(f"SM_CHANNEL_{name.upper()}") or base / "input" / "data" / name)
            for name in names
        }
        return cls(
            config_dir=config_dir,
            channel_dirs=channel_dirs,
            model_dir=path("SM_MODEL_DIR", "model"),
            output_dir=path("SM_OUTPUT_DIR", "output"),
            output_data_dir=path("SM_OUTPUT_DATA_DIR", "output/data"),
            num_cpus=_positive_int(environ.get("SM_NUM_CPUS"), os.cpu_count() or 1),
            num_gpus=_positive_int(environ.get("SM_NUM_GPUS"), 0),
        )

    def hyperparameters(self) -> dict[str, str]:
        """The user's hyperparameters (strings), platform-reserved names left out."""
        path = self.config_dir / "hyperparameters.json"
        # SM_HPS when the file is absent (a job started by hand with the toolkit's variables).
        values = _read_json_object(path) if path.exists() else json.loads(os.environ.get("SM_HPS") or "{}")
        return {
            str(name): value for name, value in values.items() if not str(name).startswith(_RESERVED_PREFIXES)
        }

    def input_data_config(self) -> dict[str, dict]:
        path = self.config_dir / "inputdataconfig.json"
        return _read_json_object(path) if path.exists() else {}


def _channel_names(environ: dict[str, str], config_dir: Path) -> list[str]:
    if environ.get("SM_CHANNELS"):
        try:
            names = json.loads(environ["SM_CHANNELS"])
        except json.JSONDecodeError:
            names = environ["SM_CHANNELS"].split(",")
        return [str(name) for name in names]
    path = config_dir / "inputdataconfig.json"
    if path.exists():
        try:
            return list(json.loads(path.read_text()))
        except (json.JSONDecodeError, TypeError):
            return []
    return []


def _positive_int(raw: str | None, default: int) -> int:
    try:
        return max(int(raw), 0) if raw not in (None, "") else default
    except ValueError:
        return default


def _read_json_object(path: Path) -> dict:
    try:
        value = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ClientError(f"{path.name} is not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise ClientError(f"{path.name} must hold a JSON object")
    return value


class TrainingContext:
    """What an algorithm module's ``train(ctx)`` works with."""

    def __init__(self, *, algorithm: Algorithm, env: TrainingEnv, hyperparameters: dict[str, Any]) -> None:
        self.algorithm = algorithm
        self.env = env
        self.hyperparameters = hyperparameters
        self.data_config = env.input_data_config()
        self.last_iteration = 0
        self.started = time.monotonic()
        self._datasets: dict[str, Any] = {}

    @property
    def num_cpus(self) -> int:
        return max(self.env.num_cpus, 1)

    @property
    def model_dir(self) -> Path:
        return self.env.model_dir

    @property
    def train_data(self):
        dataset = self.channel("train")
        if dataset is None:
            raise ClientError("channel 'train' is missing")
        return dataset

    def channel(self, name: str):
        """The channel's rows (``data.Dataset``), read once; None when the job has no such channel."""
        from jobs.algorithms.data import read_channel

        if name not in self._datasets:
            if name not in self.env.channel_dirs:
                self._datasets[name] = None
            else:
                config = self.data_config.get(name) or {}
                dataset = read_channel(
                    name,
                    self.env.channel_dirs[name],
                    config.get("ContentType"),
                    labelled=self.algorithm.supervised,
                )
                self._check_shape(dataset)
                self._datasets[name] = dataset
                labels = "" if dataset.labels is None else " and a label"
                self.log(
                    f"Channel {name!r}: {dataset.rows} rows, {dataset.feature_dim} features{labels} "
                    f"from {len(dataset.files)} file(s)."
                )
        return self._datasets[name]

    def _check_shape(self, dataset) -> None:
        feature_dim = self.hyperparameters.get("feature_dim")
        if feature_dim is not None and dataset.feature_dim != feature_dim:
            raise ClientError(
                f"feature_dim is {feature_dim} but channel {dataset.channel!r} has {dataset.feature_dim} "
                "feature columns"
            )
        if dataset.channel != "train":
            train = self.train_data
            if dataset.feature_dim != train.feature_dim:
                raise ClientError(
                    f"channel {dataset.channel!r} has {dataset.feature_dim} feature columns but channel "
                    f"'train' has {train.feature_dim}"
                )

    def evaluation_channels(self) -> list[str]:
        """The optional channels the job has, in SageMaker's order (validation before test)."""
        return [name for name in ("validation", "test") if name in self.env.channel_dirs]

    def log(self, message: str) -> None:
        print(message, flush=True)

    def log_metrics(self, iteration: int, values: dict[str, dict[str, float]]) -> None:
        """Print one ``[N]#011train-...#011validation-...`` line (see ``metrics.metrics_line``)."""
        from jobs.algorithms.metrics import print_metrics

        self.last_iteration = max(self.last_iteration, iteration)
        print_metrics(iteration, values)

    def save_model(
        self,
        *,
        problem: str,
        feature_dim: int,
        files: list[str],
        classes: list | None = None,
        **extra: Any,
    ) -> dict:
        """Write ``algorithm.json``: what ``load_model`` needs besides the model files themselves."""
        manifest = {
            "algorithm": self.algorithm.name,
            "format_version": FORMAT_VERSION,
            "problem": problem,
            "hyperparameters": self.hyperparameters,
            "feature_dim": int(feature_dim),
            "files": list(files),
        }
        if classes is not None:
            manifest["classes"] = [_plain_number(value) for value in classes]
        manifest.update(extra)
        self.model_dir.mkdir(parents=True, exist_ok=True)
        (self.model_dir / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
        return manifest


def _plain_number(value: Any) -> int | float:
    number = float(value)
    return int(number) if number.is_integer() else number


def run(name: str, env: TrainingEnv) -> None:
    """Train ``name`` in ``env``: the whole job, failures raised (``main`` reports them)."""
    try:
        algorithm = algorithm_get(name)
    except UnknownAlgorithm as exc:
        raise ClientError(str(exc)) from None
    raw = env.hyperparameters()
    try:
        clean = algorithm.validate(raw)
    except HyperparameterError as exc:
        raise ClientError(f"invalid hyperparameters: {exc}") from None
    hyperparameters = algorithm.parse(clean)
    ctx = TrainingContext(algorithm=algorithm, env=env, hyperparameters=hyperparameters)
    for required in algorithm.required_channels:
        if required not in env.channel_dirs or not env.channel_dirs[required].is_dir():
            raise ClientError(f"channel {required!r} is missing")
    # Read the data before importing the (heavy) training module: bad data fails fast.
    for channel in ("train", *ctx.evaluation_channels()):
        ctx.channel(channel)
    ctx.log(f"Training {algorithm.name} with {json.dumps(hyperparameters, sort_keys=True)}")
    module = importlib.import_module(algorithm.module)
    module.train(ctx)
    ctx.log(f"Trained in {time.monotonic() - ctx.started:.1f}s.")
    _finish(ctx)


def _finish(ctx: TrainingContext) -> None:
    """Reload the model as serving will, print the final metrics lines, write the evaluation."""
    from jobs.algorithms.evaluation import evaluation_report, write_json
    from jobs.algorithms.inference import load_model

    model = load_model(ctx.model_dir)
    final: dict[str, dict[str, float]] = {}
    outputs: dict[str, dict] = {}
    for channel in ("train", "validation", "test"):
        dataset = ctx.channel(channel)
        if dataset is None:
            continue
        features, labels = dataset.features, dataset.labels
        sample = min(FINAL_TRAIN_SAMPLE, model.metrics_sample or FINAL_TRAIN_SAMPLE)
        if channel == "train" and dataset.rows > sample:
            import numpy as np

            rows = np.sort(np.random.default_rng(0).choice(dataset.rows, sample, replace=False))
            features = features[rows]
            labels = None if labels is None else labels[rows]
            predicted = model.predict(features)
        else:
            predicted = model.predict(features)
            outputs[channel] = predicted
        final[channel] = model.metrics(features, labels, predicted)
    iteration = ctx.last_iteration
    ctx.log_metrics(iteration, {name: values for name, values in final.items() if name != "test"})
    if "test" in final:
        ctx.log_metrics(iteration, {"test": final["test"]})
    channel = next((name for name in ("test", "validation") if ctx.channel(name) is not None), None)
    if channel is None:
        return
    report = evaluation_report(model, ctx.channel(channel), outputs[channel])
    ctx.env.output_data_dir.mkdir(parents=True, exist_ok=True)
    write_json(ctx.env.output_data_dir / EVALUATION_FILE, report)
    ctx.log(f"Wrote the evaluation on channel {channel!r} ({report['rows']} rows).")


def write_failure(env: TrainingEnv | None, message: str) -> None:
    output_dir = env.output_dir if env is not None else Path(os.environ.get("SM_OUTPUT_DIR") or "output")
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        (output_dir / "failure").write_text(message)
    except OSError:
        traceback.print_exc()


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m jobs.algorithms <algorithm>", file=sys.stderr)
        return 2
    env = None
    try:
        env = TrainingEnv.from_environ()
        run(argv[0], env)
    except ClientError as exc:
        message = f"ClientError: {exc}"
        print(message, file=sys.stderr, flush=True)
        write_failure(env, message)
        return 1
    except MemoryError:
        traceback.print_exc()
        write_failure(env, "AlgorithmError: out of memory; use a larger instance type or less data")
        return 1
    except Exception as exc:
        traceback.print_exc()
        summary = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        message = f"AlgorithmError: {type(exc).__name__}" + (f": {summary}" if summary else "")
        write_failure(env, message + " (see the job's log for the traceback)")
        return 1
    return 0
