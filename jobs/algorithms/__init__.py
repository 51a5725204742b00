"""Studio's built-in algorithms (SageMaker's names, hyperparameters, data and model contracts).

- ``registry``: the catalogue (cheap to import; the web process validates requests with it).
- ``python -m jobs.algorithms <name>``: trains one inside a job (``runtime``, ``data``, one module
  per algorithm, ``evaluation``).
- ``load_model(model_dir)``: a trained model, ready to ``predict`` (``inference``; for serving).

This package imports nothing heavy itself: ``load_model`` and ``LoadedModel`` are loaded on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jobs.algorithms.inference import LoadedModel, load_model

__all__ = ["LoadedModel", "load_model"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from jobs.algorithms import inference

        return getattr(inference, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
