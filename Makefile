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

.PHONY: install run test lint format typecheck unit test-slow clean lock automations browser

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --python $(PYTHON)
	@touch $@

install: $(VENV)/.synced ## install the pinned environment from uv.lock

run: install ## run the flow on the default data; extra Hydra overrides via ARGS="key=value ..."
	$(BIN)/python flows/main.py $(ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

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

automations: install ## create/update the Prefect automations in automations.yaml (SALES_NOTIFY_BLOCK=slug/name)
	$(BIN)/python -m flows.automations $(ARGS)

lock: $(UV) ## re-resolve uv.lock after editing pyproject.toml
	$(UV) lock --python $(PYTHON)

clean:
	rm -rf $(VENV) $(TOOLS) .mypy_cache .ruff_cache

.PHONY: bench bench-install
bench-install: $(UV) ## install the benchmark extras (pandas, mlforecast) from uv.lock
	$(UV) sync --frozen --python $(PYTHON) --group bench
	@touch $(VENV)/.synced

bench: bench-install ## benchmarks: SIZES="1000000 10000000" (default), see benchmarks/README.md
	$(BIN)/python -m benchmarks $(BENCH_ARGS)
