# Image for flow runs. Dependencies come from uv.lock; code is baked in at /app.
# Hardened multi-stage build, health check and Kubernetes wiring: see the deployment issue.
FROM python:3.11.7-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    UV_PYTHON_DOWNLOADS=never \
    PATH=/app/.venv/bin:$PATH

WORKDIR /app
RUN pip install --no-cache-dir uv==0.13.8
COPY pyproject.toml uv.lock README.md ./
COPY flows ./flows
COPY tasks ./tasks
COPY conf ./conf
RUN uv sync --frozen --no-dev --python python3

RUN useradd --create-home --uid 10001 app
USER app
CMD ["python", "flows/main.py"]
