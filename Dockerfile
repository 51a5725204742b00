# syntax=docker/dockerfile:1
# One image for every Studio process: web (uvicorn: Django and the invocation gateway), worker and
# beat (celery), serving (the serving supervisor and its model processes), migrate.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    # manage.py and the apps run from /app, the same tree pip installed from.
    PYTHONPATH=/app \
    STUDIO_DATA_DIR=/data \
    # uvicorn reads it as its worker count (it restarts a worker that dies).
    WEB_CONCURRENCY=3

RUN groupadd --system --gid 1000 studio \
    && useradd --system --uid 1000 --gid studio --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin studio \
    # A named volume mounted here starts with this owner, so the non-root processes can write to it.
    && mkdir -p /data \
    && chown studio:studio /data

WORKDIR /app
COPY . /app
RUN --mount=type=cache,target=/root/.cache/pip pip install . && rm -rf build ./*.egg-info

# No collectstatic: WhiteNoise serves from the apps' static folders (WHITENOISE_USE_FINDERS).
USER studio
EXPOSE 8000
CMD ["uvicorn", "studio.asgi:application", "--host", "0.0.0.0", "--port", "8000", "--no-access-log"]
