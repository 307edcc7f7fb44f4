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
# Default suite in parallel (pytest-xdist): 2 workers fit the 2-core CI machine.
UNIT_WORKERS ?= 2
SERVER_PORT ?= 4200

export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)
# Installed packages ship compiled bytecode: a run reads it instead of compiling prefect,
# polars, lightgbm ... from source every time (which it does where PYTHONDONTWRITEBYTECODE is set).
export UV_COMPILE_BYTECODE := 1
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS ?= 90
export PREFECT_SERVER_ANALYTICS_ENABLED ?= false
# LightGBM's OpenMP threads sleep instead of spinning while they wait: on a shared or
# busy machine spinning threads slow training down by an order of magnitude.
export OMP_WAIT_POLICY ?= PASSIVE

.PHONY: server server-stop install run test lint format typecheck unit test-slow kill-matrix clean lock automations browser runtime-deps

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --python $(PYTHON)
	@$(BIN)/python -m compileall -q flows tasks >/dev/null || true
	@touch $@

install: $(VENV)/.synced ## install the pinned environment from uv.lock

# `make run` is the whole pipeline, as the scheduled deployment runs it: it promotes and serves
# (MODE=experiment registers only, like a plain `python flows/main.py`).
MODE        ?= production
run: install ## run the flow on the default data; extra Hydra overrides via ARGS="key=value ..."
	@url=$$($(BIN)/python -m flows.devserver url --port $(SERVER_PORT) 2>/dev/null); \
	if [ -n "$$url" ] && [ -z "$$PREFECT_API_URL" ]; then \
	  echo "using the Prefect server at $$url (make server-stop to stop it)"; \
	  export PREFECT_API_URL="$$url"; \
	fi; \
	$(BIN)/python flows/main.py mode=$(MODE) $(ARGS)

server: install ## keep one Prefect server running on 127.0.0.1:$(SERVER_PORT) (pid, log: .prefect/devserver/)
	@$(BIN)/python -m flows.devserver start --port $(SERVER_PORT)

server-stop: install ## stop the server `make server` started (by its pid)
	@$(BIN)/python -m flows.devserver stop --port $(SERVER_PORT)

lint: install ## ruff, the architecture's import contracts (pyproject.toml: tool.importlinter), hadolint, cfn-lint
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/hadolint Dockerfile
	$(BIN)/cfn-lint deploy/cloudformation.yaml

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
	$(BIN)/pytest -m "not slow" -n $(UNIT_WORKERS) $(PYTEST_ARGS)

test: lint typecheck unit ## everything CI checks by default

# The installed-package and pod-path tests (tests/e2e/installed.py) build a fresh environment
# offline from uv's cache, on a Python 3.11 the unprivileged runtime user can run (the
# system's, not a pyenv one under /root). Locked packages that only that Python needs (e.g.
# async-timeout below 3.11.3) are fetched into the cache here, so the tests need no network.
RUNTIME_PYTHON ?= $(firstword $(wildcard /usr/local/bin/python3.11 /usr/bin/python3.11) $(PYTHON))
runtime-deps: install
	@tmp=$$(mktemp -d) && UV_PROJECT_ENVIRONMENT=$$tmp/venv $(UV) sync --frozen --no-dev \
	  --no-install-project --quiet --python $(RUNTIME_PYTHON); rc=$$?; rm -rf $$tmp; exit $$rc

test-slow: install browser runtime-deps ## tests marked slow (real servers, larger data)
	$(BIN)/pytest -m slow $(PYTEST_ARGS); rc=$$?; if [ $$rc -eq 5 ]; then echo "no slow tests selected"; exit 0; fi; exit $$rc

kill-matrix: install browser ## the full kill matrix: 64 SIGKILL points (about 40-50 min); make test-slow runs 10 of them
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

# Images without a Docker engine: buildah (`apt-get install buildah debootstrap`), containers
# with --isolation chroot. Where Docker Hub is out of reach, `make base-image` makes the base
# from Debian's mirror: bookworm minbase with python3.11, pip and venv, and this machine's CA
# bundle (builds behind a TLS-inspecting proxy reach PyPI); for local builds only.
BASE_IMAGE    ?= localhost/debian-python:3.11-bookworm
DEBIAN_MIRROR ?= http://deb.debian.org/debian
PYTHON_IMAGE  ?=
.PHONY: base-image test-image
base-image: ## optional: a Debian bookworm + Python 3.11 base image made with debootstrap (BASE_IMAGE)
	@tmp=$$(mktemp -d /var/tmp/sales-forecast-base.XXXXXX) && trap 'rm -rf "$$tmp"' EXIT && \
	debootstrap --variant=minbase --include=python3.11,python3-venv,python3-pip,ca-certificates \
	  bookworm "$$tmp/rootfs" $(DEBIAN_MIRROR) >"$$tmp/debootstrap.log" \
	  || { tail -20 "$$tmp/debootstrap.log"; exit 1; }; \
	cp /etc/ssl/certs/ca-certificates.crt "$$tmp/rootfs/etc/ssl/certs/ca-certificates.crt" && \
	rm -rf "$$tmp"/rootfs/var/cache/apt/archives/*.deb "$$tmp"/rootfs/var/lib/apt/lists/* && \
	tar -C "$$tmp/rootfs" -cf "$$tmp/rootfs.tar" . && \
	ctr=$$(buildah from scratch) && buildah add "$$ctr" "$$tmp/rootfs.tar" / >/dev/null && \
	buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	  --env LANG=C.UTF-8 --env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt --cmd python3 "$$ctr" && \
	buildah commit --rm -q "$$ctr" $(BASE_IMAGE) && echo "base image: $(BASE_IMAGE)"

image: ## optional: build the image with buildah, no Docker engine (PYTHON_IMAGE=$(BASE_IMAGE) after make base-image)
	buildah bud --isolation chroot --layers --build-arg GIT_COMMIT="$$(git rev-parse HEAD)" \
	  $(if $(PYTHON_IMAGE),--build-arg PYTHON_IMAGE=$(PYTHON_IMAGE)) -t $(or $(IMAGE),sales-forecast:dev) .

test-image: install ## the image built with buildah on BASE_IMAGE, its package as uid 10001, and a flow run in it as its Job would
	SALES_BASE_IMAGE=$(BASE_IMAGE) $(BIN)/pytest -m slow tests/e2e/test_image.py $(PYTEST_ARGS)

test-e2e: install ## the deployment end to end test: Prefect server, moto S3+SQS, process pool, worker, bridge
	$(BIN)/pytest -m slow tests/e2e/test_deploy_e2e.py $(PYTEST_ARGS)
