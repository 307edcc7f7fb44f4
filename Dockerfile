# Image for the sales-forecast flow runs and the S3 event bridge (one image, two entrypoints).
#
#   build:  docker build --build-arg GIT_COMMIT="$(git rev-parse HEAD)" -t sales-forecast .
#           (or `make deploy`, which builds and pushes it through prefect.yaml)
#
# Entrypoints (there is no ENTRYPOINT: the container command is what Kubernetes passes):
#   prefect flow-run execute         what the Kubernetes worker runs for a flow run (Job args)
#   python -m flows.bridge           the S3 -> Prefect event bridge (deploy/s3-bridge.yaml)
#   python -m flows.bridge --healthcheck   its liveness probe
#   python flows/main.py key=value   a local run (the default CMD: the bundled synthetic data)
#
# Dependencies come from uv.lock only (`uv sync --frozen --no-dev`); the code is at /app,
# owned by root and read-only for the runtime user (uid 10001); /app/data and /app/outputs
# are the only writable folders (the default local data and output paths).
#
# Reproducible base: the tag pins Python and Debian; pin the digest too by passing
#   --build-arg PYTHON_IMAGE=python:3.11.7-slim-bookworm@sha256:<digest>
ARG PYTHON_IMAGE=python:3.11.7-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1 \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN pip install --no-cache-dir uv==0.13.8
WORKDIR /app
COPY pyproject.toml uv.lock ./
# Dependencies only: the project itself runs from /app (flows/ and tasks/ on PYTHONPATH).
RUN uv sync --frozen --no-dev --no-install-project --python /usr/local/bin/python3

FROM ${PYTHON_IMAGE} AS runtime
ARG GIT_COMMIT=unknown
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONPATH=/app \
    PATH=/app/.venv/bin:$PATH \
    GIT_COMMIT=${GIT_COMMIT} \
    PREFECT_HOME=/home/app/.prefect \
    PREFECT_SERVER_ANALYTICS_ENABLED=false \
    OMP_WAIT_POLICY=PASSIVE
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /home/app --create-home app
WORKDIR /app
COPY --from=builder /app/.venv /app/.venv
COPY conf ./conf
COPY tasks ./tasks
COPY flows ./flows
RUN mkdir -p /app/data /app/outputs && chown app:app /app/data /app/outputs
USER 10001:10001
CMD ["python", "flows/main.py"]
