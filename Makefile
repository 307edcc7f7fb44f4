# Two commands on a fresh machine (needs only python3 + pip):
#   make run    runs the pipeline on the bundled default data
#   make test   lint, type-check and the default test suite
# Everything is installed from uv.lock into .venv; uv itself is pinned and installed into .tools.

PYTHON      ?= python3
UV_VERSION  := 0.13.8
TOOLS       := .tools
UV          := $(TOOLS)/bin/uv
VENV        := .venv
BIN         := $(VENV)/bin
ARGS        ?=
PYTEST_ARGS ?=

export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS ?= 90
export PREFECT_SERVER_ANALYTICS_ENABLED ?= false
# LightGBM's OpenMP threads sleep instead of spinning while they wait: on a shared or
# busy machine spinning threads slow training down by an order of magnitude.
export OMP_WAIT_POLICY ?= PASSIVE

.PHONY: install run test lint format typecheck unit test-slow kill-matrix clean lock automations browser

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --python $(PYTHON)
	@touch $@

install: $(VENV)/.synced ## install the pinned environment from uv.lock

run: install ## run the flow on the default data; extra Hydra overrides via ARGS="key=value ..."
	$(BIN)/python flows/main.py $(ARGS)

lint: install ## ruff, the architecture's import contracts (pyproject.toml: tool.importlinter), hadolint
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/hadolint Dockerfile

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: install
	$(BIN)/mypy

# Debian's Chromium renders the run report in a browser test; installed when missing.
# Off Debian (or without root/sudo) the test is skipped locally, and fails under CI=true.
CHROMIUM := /usr/bin/chromium
browser:
	@if [ ! -x $(CHROMIUM) ]; then \
	  if [ "$$(id -u)" = 0 ]; then sudo=; else sudo=sudo; fi; \
	  { $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    $$sudo apt-get install -y -qq --no-install-recommends chromium >/dev/null; } \
	  || { echo "could not install chromium: the report's browser test will not run"; \
	       [ -z "$$CI" ]; }; \
	fi

unit: install browser
	$(BIN)/pytest -m "not slow" $(PYTEST_ARGS)

test: lint typecheck unit ## everything CI checks by default

test-slow: install browser ## tests marked slow (real servers, larger data)
	$(BIN)/pytest -m slow $(PYTEST_ARGS); rc=$$?; if [ $$rc -eq 5 ]; then echo "no slow tests selected"; exit 0; fi; exit $$rc

kill-matrix: install browser ## the full kill matrix: 64 SIGKILL points (about 40-50 min); make test-slow runs 19 of them
	KILL_MATRIX_FULL=1 $(BIN)/pytest tests/e2e/test_kill_matrix.py -k kill_matrix $(PYTEST_ARGS)

automations: install ## create/update the Prefect automations in deploy/automations.yaml (SALES_NOTIFY_BLOCK=slug/name)
	$(BIN)/python -m flows.automations $(ARGS)

lock: $(UV) ## re-resolve uv.lock after editing pyproject.toml
	$(UV) lock --python $(PYTHON)

clean:
	rm -rf $(VENV) $(TOOLS) .mypy_cache .ruff_cache .import_linter_cache

.PHONY: bench bench-install bench-accuracy
bench-install: $(UV) ## install the benchmark extras (pandas, mlforecast) from uv.lock
	$(UV) sync --frozen --python $(PYTHON) --group bench
	@touch $(VENV)/.synced

bench: bench-install ## benchmarks (1M and 10M rows by default): BENCH_ARGS="--sizes 1e6 1e7 --include-100m", see benchmarks/README.md
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

bench-accuracy: bench-install ## accuracy benchmark: 4 data sets x baselines, statsforecast, mlforecast, ours, ensemble (ACC_ARGS="--datasets synthetic")
	$(BIN)/python -m benchmarks.accuracy $(ACC_ARGS)

# Deployment: see README.md, "Deploy". prefect.yaml reads SALES_LANDING_BUCKET,
# SALES_LANDING_PREFIX, SALES_OUTPUT_PATH (and IMAGE_REPOSITORY to build) from the environment.
POOL      ?= sales-forecast-k8s
POOL_TYPE ?= kubernetes
IMAGE     ?=
WORKDIR   ?=
.PHONY: pool deploy deploy-no-build bridge image test-e2e

pool: install ## create/update the work pool (POOL, POOL_TYPE; kubernetes: deploy/base-job-template.json) and its queue (limit 1)
	$(BIN)/python -m flows.deploy pool --pool $(POOL) --type $(POOL_TYPE)

deploy: install ## build + push the image (Docker engine, IMAGE_REPOSITORY) and register both deployments
	$(UV) sync --frozen --inexact --python $(PYTHON) --group deploy
	$(BIN)/python -m flows.deploy deploy

deploy-no-build: install ## register the deployments without building: IMAGE=repo:tag (pushed), or POOL=<process pool> WORKDIR=$$PWD
	$(BIN)/python -m flows.deploy deploy --no-build --pool $(POOL) $(if $(IMAGE),--image $(IMAGE)) $(if $(WORKDIR),--workdir $(WORKDIR))

bridge: install ## run the S3 -> Prefect event bridge here (SALES_BRIDGE_QUEUE_URL, SALES_LANDING_BUCKET, SALES_LANDING_PREFIX, PREFECT_API_URL)
	$(BIN)/python -m flows.bridge

image: ## optional: build the image without a Docker engine (buildah; needs the base image's registry)
	buildah bud --layers --build-arg GIT_COMMIT="$$(git rev-parse HEAD)" -t $(or $(IMAGE),sales-forecast:dev) .

test-e2e: install ## the deployment end to end test: Prefect server, moto S3+SQS, process pool, worker, bridge
	$(BIN)/pytest -m slow tests/e2e/test_deploy_e2e.py $(PYTEST_ARGS)
