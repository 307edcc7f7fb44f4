# Image for the sales-forecast flow runs and the S3 event bridge (one image, two entrypoints).
#
#   build:  docker build --build-arg GIT_COMMIT="$(git rev-parse HEAD)" -t sales-forecast .
#           (or `make deploy`, which builds and pushes it through prefect.yaml;
#            `make image` builds it with buildah, no Docker engine needed)
#
# Entrypoints (there is no ENTRYPOINT: the container command is what Kubernetes passes):
#   prefect flow-run execute         what the Kubernetes worker runs for a flow run (Job args)
#   python -m flows.bridge           the S3 -> Prefect event bridge (deploy/s3-bridge.yaml)
#   python -m flows.bridge --healthcheck   its liveness probe
#   sales-forecast run key=value     a local run (the default CMD: the bundled synthetic data)
#
# The build stage installs the dependencies from uv.lock only (`uv sync --frozen --no-dev`),
# then builds the project's wheel (what `pip install .` installs: flows, tasks and the Hydra
# config) and installs exactly that wheel into the same environment, without resolving
# anything again. The runtime stage has that environment at /app/.venv, owned by root and
# read-only for the runtime user (uid 10001), and no source tree; /app/data and
# /app/outputs are the only writable folders (the default local data and output paths).
#
# Reproducible base: the tag pins Python and Debian; pin the digest too by passing
#   --build-arg PYTHON_IMAGE=python:3.11.7-slim-bookworm@sha256:<digest>
# Any Debian-based image with python3 (3.11), pip and venv works as the base, e.g. one made
# with debootstrap where Docker Hub cannot be reached (`make base-image`, see README).
ARG PYTHON_IMAGE=python:3.11.7-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1 \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_BREAK_SYSTEM_PACKAGES=1
RUN python3 -m pip install --no-cache-dir uv==0.13.8
WORKDIR /src
COPY pyproject.toml uv.lock README.md ./
# Dependencies only, exactly as locked.
RUN uv sync --frozen --no-dev --no-install-project --python python3
COPY conf ./conf
COPY flows ./flows
COPY tasks ./tasks
# The project itself: its wheel, installed without its dependencies (they are the locked ones).
RUN uv build --wheel --out-dir /src/dist \
    && uv pip install --python /app/.venv/bin/python --no-deps /src/dist/sales_forecast-*.whl

FROM ${PYTHON_IMAGE} AS runtime
ARG GIT_COMMIT=unknown
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/app/.venv/bin:$PATH \
    GIT_COMMIT=${GIT_COMMIT} \
    PREFECT_HOME=/home/app/.prefect \
    PREFECT_SERVER_ANALYTICS_ENABLED=false \
    OMP_WAIT_POLICY=PASSIVE
# LightGBM's wheel links the system's OpenMP runtime, which slim images do not carry
# (without it: "libgomp.so.1: cannot open shared object file" at the first import).
# The base image's tag pins the Debian release, so its libgomp1 is that release's.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /home/app --create-home app
WORKDIR /app
COPY --from=builder /app/.venv /app/.venv
RUN mkdir -p /app/data /app/outputs && chown app:app /app/data /app/outputs
USER 10001:10001
CMD ["sales-forecast", "run"]
