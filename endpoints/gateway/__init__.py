"""The invocation gateway: the hot path of ``POST .../endpoints/{name}/invocations``, served by a
lean ASGI handler beside Django in the same web process (see ``studio.asgi``)."""
