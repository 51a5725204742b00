"""A model folder, loaded and ready to answer requests (Django-free: serving processes and batch
transform import only this).

Two kinds, as SageMaker has them:

* a built-in algorithm's model (``algorithm.json`` from ``jobs.algorithms``), answered by Studio's
  handler: CSV / JSON / JSON lines / NPY in, the algorithm's keys out (``SAGEMAKER_INFERENCE_OUTPUT``
  picks the CSV/NPY columns);
* the user's code, with the SageMaker inference toolkit's handler functions in
  ``code/inference.py`` (``SAGEMAKER_PROGRAM`` names another file): ``model_fn``, ``input_fn``,
  ``predict_fn``, ``output_fn``, or ``transform_fn`` instead of the last three. Missing ones take the
  toolkit's defaults; without ``model_fn`` a ``model.joblib``/``model.pkl`` is loaded with joblib.

Handlers whose decode/predict/encode are Studio's own (every built-in, and user models with the
default functions) are *batchable*: the serving process stacks concurrent requests into one
``predict`` call.
"""

from __future__ import annotations

import importlib.util
import inspect
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from endpoints.inference import codecs
from endpoints.inference.codecs import PayloadError

DEFAULT_PROGRAM = "inference.py"
PICKLED_MODEL_FILES = ("model.joblib", "model.pkl", "model.pickle")
# The CSV / NPY columns of each built-in's answer when SAGEMAKER_INFERENCE_OUTPUT does not say.
BUILTIN_PRIMARY_KEYS = ("score", "predicted_label", "closest_cluster", "projection")


class ModelLoadError(Exception):
    """The model folder or its code cannot be loaded; the message says why."""


class ModelInvocationError(Exception):
    """The model's own code raised while answering (SageMaker's ModelError)."""


@dataclass
class Context:
    """What a handler function taking a trailing ``context`` argument receives."""

    custom_attributes: str = ""
    inference_id: str = ""
    response_custom_attributes: str = ""
    properties: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Answer:
    body: bytes
    content_type: str
    custom_attributes: str = ""


def _model_error(exc: BaseException) -> ModelInvocationError:
    return ModelInvocationError(f"{type(exc).__name__}: {exc}")


class BatchableHandler:
    """Decode, predict and encode are Studio's: requests can be stacked into one ``predict``."""

    batchable = True
    default_accept = codecs.JSON

    def decode(self, body: bytes, content_type: str) -> np.ndarray:
        return codecs.decode(body, content_type)

    def predict(self, matrix: np.ndarray) -> Any:
        raise NotImplementedError

    def encode(self, predictions: Any, start: int, stop: int, accept: str) -> bytes:
        raise NotImplementedError

    def invoke(self, body: bytes, content_type: str, accept: str, context: Context | None = None) -> Answer:
        accept = codecs.pick_accept(accept, self.default_accept)
        matrix = self.decode(body, content_type)
        predictions = self.predict(matrix)
        return Answer(self.encode(predictions, 0, len(matrix), accept), accept)


class BuiltinHandler(BatchableHandler):
    """A built-in algorithm's model (``jobs.algorithms``)."""

    default_accept = codecs.CSV

    def __init__(self, model_dir: Path, environment: Mapping[str, str]) -> None:
        from jobs.algorithms.inference import ModelError, load_model

        try:
            self.model = load_model(model_dir)
        except ModelError as exc:
            raise ModelLoadError(str(exc)) from None
        self.default_accept = codecs.media_type(
            environment.get("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT", codecs.CSV)
        )
        keys = environment.get("SAGEMAKER_INFERENCE_OUTPUT", "")
        self.primary_keys = tuple(key.strip() for key in keys.split(",") if key.strip())

    @property
    def feature_dim(self) -> int:
        return self.model.feature_dim

    def predict(self, matrix: np.ndarray) -> dict[str, np.ndarray]:
        try:
            return self.model.predict(matrix)
        except ValueError as exc:  # wrong width, missing values: the request's fault
            raise PayloadError(str(exc)) from None
        except Exception as exc:
            raise _model_error(exc) from exc

    def _primary(self, outputs: Mapping[str, np.ndarray]) -> tuple[str, ...]:
        if self.primary_keys:
            unknown = [key for key in self.primary_keys if key not in outputs]
            if unknown:
                raise ModelInvocationError(
                    f"SAGEMAKER_INFERENCE_OUTPUT names {', '.join(unknown)}; this model answers "
                    f"{', '.join(outputs)}"
                )
            return self.primary_keys
        return (next(key for key in (*BUILTIN_PRIMARY_KEYS, *outputs) if key in outputs),)

    def encode(self, predictions: dict[str, np.ndarray], start: int, stop: int, accept: str) -> bytes:
        records = [{key: values[row] for key, values in predictions.items()} for row in range(start, stop)]
        return codecs.encode_records(records, self._primary(predictions), accept)

    def smoke_body(self) -> tuple[bytes, str]:
        return ",".join(["0"] * self.feature_dim).encode(), codecs.CSV


def _takes_context(function: Callable, arguments: int) -> bool:
    try:
        return len(inspect.signature(function).parameters) > arguments
    except (TypeError, ValueError):
        return False


class _UserFunction:
    """One of the user's handler functions, called with ``context`` when it takes one."""

    def __init__(self, function: Callable, arguments: int) -> None:
        self.function = function
        self.with_context = _takes_context(function, arguments)

    def __call__(self, *args: Any, context: Context) -> Any:
        if self.with_context:
            return self.function(*args, context)
        return self.function(*args)


def _import_program(path: Path) -> Any:
    code_dir = str(path.parent)
    if code_dir not in sys.path:
        sys.path.insert(0, code_dir)
    spec = importlib.util.spec_from_file_location(f"studio_user_inference_{abs(hash(path))}", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise ModelLoadError(f"importing {path.name} failed: {type(exc).__name__}: {exc}") from exc
    return module


def _load_pickled_model(model_dir: Path) -> Any:
    for name in PICKLED_MODEL_FILES:
        if (model_dir / name).is_file():
            import joblib

            try:
                return joblib.load(model_dir / name)
            except Exception as exc:
                raise ModelLoadError(f"loading {name} failed: {type(exc).__name__}: {exc}") from exc
    raise ModelLoadError(
        f"no model_fn in the inference code and no {' / '.join(PICKLED_MODEL_FILES)} in the model"
    )


class DefaultFunctionsHandler(BatchableHandler):
    """A model object with ``predict`` and the toolkit's default input, predict and output functions."""

    def __init__(self, model: Any, environment: Mapping[str, str]) -> None:
        if not callable(getattr(model, "predict", None)):
            raise ModelLoadError(f"the loaded {type(model).__name__} has no predict(); define predict_fn")
        self.model = model
        self.default_accept = codecs.media_type(
            environment.get("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT", codecs.JSON)
        )

    def predict(self, matrix: np.ndarray) -> np.ndarray:
        try:
            return np.asarray(self.model.predict(matrix))
        except ValueError as exc:  # scikit-learn's "X has 3 features, but ... expects 4"
            raise PayloadError(str(exc)) from None
        except Exception as exc:
            raise _model_error(exc) from exc

    def encode(self, predictions: np.ndarray, start: int, stop: int, accept: str) -> bytes:
        return codecs.encode_array(predictions[start:stop], accept)

    def smoke_body(self) -> tuple[bytes, str] | None:
        width = getattr(self.model, "n_features_in_", None)
        return None if width is None else (",".join(["0"] * int(width)).encode(), codecs.CSV)


class ScriptHandler:
    """The user's ``input_fn`` / ``predict_fn`` / ``output_fn`` (or ``transform_fn``) around a model."""

    batchable = False

    def __init__(self, module: Any, model: Any, environment: Mapping[str, str]) -> None:
        self.model = model
        self.default_accept = codecs.media_type(
            environment.get("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT", codecs.JSON)
        )
        transform = getattr(module, "transform_fn", None)
        custom = [name for name in ("input_fn", "predict_fn", "output_fn") if hasattr(module, name)]
        if transform is not None and custom:
            raise ModelLoadError(f"transform_fn cannot be defined together with {', '.join(custom)}")
        self.transform_fn = None if transform is None else _UserFunction(transform, 4)
        self.input_fn = _UserFunction(getattr(module, "input_fn", self._default_input), 2)
        self.predict_fn = _UserFunction(getattr(module, "predict_fn", self._default_predict), 2)
        self.output_fn = _UserFunction(getattr(module, "output_fn", self._default_output), 2)

    @staticmethod
    def _default_input(body: bytes, content_type: str) -> np.ndarray:
        return codecs.decode(body, content_type)

    @staticmethod
    def _default_predict(data: Any, model: Any) -> Any:
        return model.predict(data)

    @staticmethod
    def _default_output(prediction: Any, accept: str) -> tuple[bytes, str]:
        return codecs.encode_array(prediction, accept), accept

    def invoke(self, body: bytes, content_type: str, accept: str, context: Context | None = None) -> Answer:
        context = context or Context()
        accept = self._accept(accept)
        try:
            if self.transform_fn is not None:
                result = self.transform_fn(self.model, body, content_type, accept, context=context)
            else:
                data = self.input_fn(body, content_type, context=context)
                prediction = self.predict_fn(data, self.model, context=context)
                result = self.output_fn(prediction, accept, context=context)
        except PayloadError:
            raise
        except Exception as exc:
            raise _model_error(exc) from exc
        return _answer(result, accept, context)

    def _accept(self, accept: str) -> str:
        kind = accept.split(",", 1)[0].strip()
        if codecs.media_type(kind) in codecs.ANY:
            return self.default_accept
        return kind  # the user's output_fn may speak types Studio's codecs do not

    def smoke_body(self) -> None:
        return None


def _answer(result: Any, accept: str, context: Context) -> Answer:
    content_type = accept
    if isinstance(result, tuple) and len(result) == 2:
        result, content_type = result
    if isinstance(result, str):
        result = result.encode()
    if not isinstance(result, (bytes, bytearray, memoryview)):
        raise ModelInvocationError(
            f"output_fn returned {type(result).__name__}; it must return bytes or (bytes, content_type)"
        )
    return Answer(bytes(result), content_type, context.response_custom_attributes)


Handler = BuiltinHandler | DefaultFunctionsHandler | ScriptHandler


def program_path(model_dir: Path, environment: Mapping[str, str]) -> Path | None:
    """The user's inference script, if the model has one (``code/`` first, as the toolkit looks)."""
    name = environment.get("SAGEMAKER_PROGRAM", DEFAULT_PROGRAM)
    for candidate in (model_dir / "code" / name, model_dir / name):
        if candidate.is_file():
            return candidate
    if "SAGEMAKER_PROGRAM" in environment:
        raise ModelLoadError(f"SAGEMAKER_PROGRAM is {name!r} but the model has no code/{name}")
    return None


def load_handler(model_dir: str | Path, environment: Mapping[str, str] | None = None) -> Handler:
    """Load the model in ``model_dir`` (an unpacked ``model.tar.gz``) with the right handler."""
    model_dir = Path(model_dir)
    environment = dict(os.environ if environment is None else environment)
    program = program_path(model_dir, environment)
    if program is None:
        if (model_dir / "algorithm.json").is_file():
            return BuiltinHandler(model_dir, environment)
        return DefaultFunctionsHandler(_load_pickled_model(model_dir), environment)
    module = _import_program(program)
    model_fn = getattr(module, "model_fn", None)
    if model_fn is None:
        model = _load_pickled_model(model_dir)
    else:
        try:
            model = _UserFunction(model_fn, 1)(str(model_dir), context=Context())
        except Exception as exc:
            raise ModelLoadError(f"model_fn failed: {type(exc).__name__}: {exc}") from exc
    if not any(hasattr(module, name) for name in ("input_fn", "predict_fn", "output_fn", "transform_fn")):
        return DefaultFunctionsHandler(model, environment)
    return ScriptHandler(module, model, environment)
