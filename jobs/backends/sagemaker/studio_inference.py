"""Studio's entry point for a model that SageMaker's scikit-learn container serves.

This file runs inside the container (Python 3.8+, no Studio imports), not in Studio: the
``sagemaker`` backend puts it in the model's ``sourcedir.tar.gz`` as ``SAGEMAKER_PROGRAM``. It
serves the model as Studio's own serving does: with the handler functions of the model's
inference code (``STUDIO_USER_PROGRAM``, default ``inference.py``, found beside this file, in the
model's ``code/`` folder or at its root) and, when that code has no ``model_fn`` or there is no
code, by loading ``model.joblib``/``model.pkl``/``model.pickle`` with joblib; the container's
default input, predict and output functions do the rest.
"""

import importlib.util
import os
import sys

MODEL_DIR = os.environ.get("STUDIO_MODEL_DIR", "/opt/ml/model")
PROGRAM = os.environ.get("STUDIO_USER_PROGRAM", "inference.py")
PICKLED_MODEL_FILES = ("model.joblib", "model.pkl", "model.pickle")
HANDLER_FUNCTIONS = ("model_fn", "input_fn", "predict_fn", "output_fn", "transform_fn")


def _find_program():
    here = os.path.dirname(os.path.abspath(__file__))
    for folder in (here, os.path.join(MODEL_DIR, "code"), MODEL_DIR):
        path = os.path.abspath(os.path.join(folder, PROGRAM))
        if os.path.isfile(path) and path != os.path.abspath(__file__):
            return path
    return None


def _import_program(path):
    folder = os.path.dirname(path)
    if folder not in sys.path:
        sys.path.insert(0, folder)  # the program may import its neighbours
    spec = importlib.util.spec_from_file_location("studio_user_inference", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _joblib_model_fn(model_dir):
    import joblib

    for name in PICKLED_MODEL_FILES:
        path = os.path.join(model_dir, name)
        if os.path.isfile(path):
            return joblib.load(path)
    raise ValueError(
        "no model_fn in the inference code and no {} in the model".format(" / ".join(PICKLED_MODEL_FILES))
    )


_program = _find_program()
if _program is not None:
    _user_module = _import_program(_program)
    for _name in HANDLER_FUNCTIONS:
        if hasattr(_user_module, _name):
            globals()[_name] = getattr(_user_module, _name)
if "model_fn" not in globals():
    model_fn = _joblib_model_fn
