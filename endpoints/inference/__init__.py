"""Loading models and answering requests with them, shared by endpoints and batch transform."""

from endpoints.inference.handlers import (
    Answer,
    Context,
    Handler,
    ModelInvocationError,
    ModelLoadError,
    load_handler,
)

__all__ = ["Answer", "Context", "Handler", "ModelInvocationError", "ModelLoadError", "load_handler"]
