# syntax=docker/dockerfile:1
# introrank: the API server image.
#   docker build -t introrank .
#   docker run -p 8000:8000 -v introrank-data:/data introrank
# Everything stateful (SQLite database, MLflow store, models) lives in /data.

# --- builder: install the project and its dependencies into a self-contained venv ---
FROM python:3.11-slim AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
ENV PATH="/opt/venv/bin:$PATH"

WORKDIR /src
COPY pyproject.toml README.md ./
COPY model ./model
COPY service ./service
COPY training ./training
# introrank/ is the import package: the top layer plus links to the three folders above.
COPY introrank ./introrank
# A regular (non-editable) install: the venv holds a built wheel of introrank,
# not a link back to /src, so it can be copied on its own.
RUN pip install --no-cache-dir .

# --- runtime ---
FROM python:3.11-slim

# libgomp1: OpenMP runtime that LightGBM's shared library links against.
# Not version-pinned: Debian drops superseded package versions from its mirrors
# (security updates), so an exact pin would break future builds; the base image
# tag already fixes the Debian release.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 introrank \
    && useradd --system --no-log-init --uid 10001 --gid introrank \
        --create-home --home-dir /home/introrank --shell /usr/sbin/nologin introrank \
    && mkdir /data \
    && chown introrank:introrank /data

COPY --from=builder /opt/venv /opt/venv

ENV PATH="/opt/venv/bin:$PATH" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    INTRORANK_DATA_DIR=/data

WORKDIR /home/introrank
# Numeric so runtimes (e.g. Kubernetes runAsNonRoot) can verify it is not root.
USER 10001:10001

VOLUME ["/data"]
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]

CMD ["introrank", "serve", "--host", "0.0.0.0", "--port", "8000"]
