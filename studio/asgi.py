"""Studio's web process: Django for everything, except the invocation path, which the lean gateway
answers without going through Django (``endpoints.gateway``).

Django runs as the WSGI app it is, on a2wsgi's thread pool, so views keep the thread-per-request
model they were written for.
"""

import asyncio
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studio.settings")

from a2wsgi import WSGIMiddleware
from django.conf import settings
from django.core.wsgi import get_wsgi_application

django_application = WSGIMiddleware(get_wsgi_application(), workers=settings.STUDIO_WEB_THREADS)

from endpoints.gateway.app import INVOCATIONS, gateway  # noqa: E402


async def application(scope, receive, send) -> None:
    if scope["type"] == "http":
        if scope["method"] == "POST":
            match = INVOCATIONS.match(scope["path"])
            if match is not None:
                await gateway(scope, receive, send, match)
                return
        await django_application(scope, receive, send)
    elif scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                # Captured data and metrics still buffered are written before the process goes.
                await asyncio.to_thread(gateway.stop)
                await send({"type": "lifespan.shutdown.complete"})
                return
