# Player Platform: one image for the API (`serve`), the workers (`worker`) and migrations
# (`migrate`). Build: docker build -t player-platform .   Run: see deploy/ and docs/deploy.md.

# --- build: the locked dependencies and the project, into a virtualenv ---------------------
FROM python:3.11-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY requirements.lock pyproject.toml README.md ./
COPY src ./src
# The project's runtime dependencies at the locked versions (the lock also pins the dev
# tools, which the image does not install).
RUN pip install --constraint requirements.lock . && python -m compileall -q /opt/venv

# --- runtime: slim, no compiler, not root ------------------------------------------------------
FROM python:3.11-slim-bookworm
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 \
    PP_LOG_JSON=true PP_METRICS_MULTIPROC_DIR=/tmp/prometheus
RUN groupadd --system --gid 10001 platform \
    && useradd --system --uid 10001 --gid platform --home-dir /var/lib/platform \
        --create-home --shell /usr/sbin/nologin platform
COPY --from=build /opt/venv /opt/venv
USER 10001:10001
WORKDIR /var/lib/platform
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2).status == 200 else 1)"]
ENTRYPOINT ["playerplatform"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080", "--workers", "2", "--no-migrate"]
