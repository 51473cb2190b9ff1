# syntax=docker/dockerfile:1
# One image for the five services: the command picks one (`stow`, `qido`, `wado`, `delow`,
# `indexer`, or `indexer migrate`), run as `python -m <command>`. Settings come from DICOMWEB_*.
# Authentication is on: name the issuer (DICOMWEB_AUTH_ISSUER), or switch it off explicitly with
# DICOMWEB_AUTH_ENABLED=false and DICOMWEB_AUTH_ALLOW_UNAUTHENTICATED=true (development only).
# The launcher (dicomstack) and its embedded PostgreSQL / NATS / Traefik / SeaweedFS are not
# installed: in containers those are separate images or managed services.
ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim-bookworm AS build
ENV UV_NO_CACHE=1 \
    UV_PYTHON_DOWNLOADS=never \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy
RUN pip install --no-cache-dir uv==0.13.9
WORKDIR /src
COPY pyproject.toml uv.lock ./
COPY libs ./libs
COPY services ./services
# Exactly the locked versions of the services' dependencies, no dev tools, no launcher.
RUN uv export --frozen --no-dev --no-hashes --no-editable \
        --package stow --package qido --package wado --package delow --package indexer --package dimse \
        --output-file requirements.txt \
    && uv venv /opt/dicomweb \
    && uv pip install --python /opt/dicomweb/bin/python --no-deps --requirement requirements.txt

FROM python:${PYTHON_VERSION}-slim-bookworm
RUN groupadd --system --gid 10001 dicomweb \
    && useradd --system --uid 10001 --gid dicomweb --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin dicomweb
COPY --from=build /opt/dicomweb /opt/dicomweb
ENV PATH=/opt/dicomweb/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DICOMWEB_HTTP_HOST=0.0.0.0 \
    DICOMWEB_HTTP_PORT=8000 \
    DICOMWEB_AUTH_ENABLED=true
USER 10001:10001
WORKDIR /tmp
EXPOSE 8000
# Liveness of whichever service runs: its /healthz on DICOMWEB_HTTP_PORT (no curl in slim).
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('DICOMWEB_HTTP_PORT', '8000'), timeout=2)"]
ENTRYPOINT ["python", "-m"]
CMD ["stow"]
