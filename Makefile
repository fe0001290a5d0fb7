# Every target sets up what it needs: a fresh clone needs only make, python3 (3.11 or 3.12,
# with venv) and, for the tests, go (the version tools/*/go.mod require) and sudo or root.
STACK ?= dev
OUT ?= build/$(STACK)
DEBIAN_PACKAGES := prometheus prometheus-alertmanager prometheus-pushgateway prometheus-node-exporter
# Where `make setup` installs uv when it is not on PATH: a virtual environment of its own
# (Debian 12's python3 refuses `pip install` outside one), with only uv linked into bin/,
# which every recipe, and the Pulumi CLI they start (its toolchain is uv), finds on PATH.
UV_HOME := $(CURDIR)/.tools/uv
export PATH := $(UV_HOME)/bin:$(PATH)

.PHONY: help setup system-deps tools test-tools lint test live cluster engine health up preview render images bench golden clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

setup: ## Install uv if missing (into .tools/uv) and sync the locked environment
	@command -v uv >/dev/null 2>&1 || { \
	  echo "uv is not on PATH: installing it into $(UV_HOME)"; \
	  python3 -m venv "$(UV_HOME)/venv" && "$(UV_HOME)/venv/bin/pip" install --quiet uv \
	    && mkdir -p "$(UV_HOME)/bin" && ln -sf ../venv/bin/uv "$(UV_HOME)/bin/uv"; \
	} || { rm -rf "$(UV_HOME)"; \
	  echo "could not install uv: python3 needs its venv module (Debian: sudo apt-get install python3-venv)"; \
	  exit 1; }
	uv sync --locked

system-deps: ## Install Debian's Prometheus, Alertmanager, Pushgateway and node-exporter (and node, npm) if missing
	@missing=""; for p in $(DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	command -v npm >/dev/null 2>&1 || missing="$$missing nodejs npm"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then sudo=""; \
	  elif command -v sudo >/dev/null 2>&1; then sudo=sudo; \
	  else echo "installing$$missing needs root: run make system-deps as root, or install sudo"; exit 1; fi; \
	  $$sudo apt-get update -qq && \
	  $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

tools: ## Build promtool, amtool, Prometheus, Alertmanager, the OTel Collector, Jaeger, cAdvisor and the Pulumi engine from the Go proxy (cached); install the LogQL grammar
	bash tools/build-all.sh
	bash tools/logql/install.sh

test-tools: # What `make test` builds before the tiers (tools/test.sh builds the engine beside them)
	bash tools/build-all.sh build.sh telemetry/build.sh cadvisor/build.sh
	bash tools/logql/install.sh

lint: setup ## ruff format check, ruff lint, mypy
	uv run ruff format --check .
	uv run ruff check .
	uv run mypy

test: setup system-deps ## Everything CI runs: the tools, lint, types, all tests (the engine builds beside the tiers before it)
	bash tools/test.sh

live: setup system-deps tools ## Run the dev platform's processes on 127.0.0.1 and prove its panels, alerts and durability
	uv run pytest -m live -v tests/live

cluster: setup tools ## Run a local control plane (etcd, API server, controllers, a kwok node) on 127.0.0.1 until Ctrl-C
	uv run python -m tests.cluster

engine: setup tools ## Run the real Pulumi engine tier (previews with the policy pack)
	uv run pytest -q tests/engine

health: setup ## Check a running stack (STACK, default dev): components, targets, alerts, served versions
	uv run python -m infra.health --stack $(STACK)

up: setup ## pulumi up of STACK (default dev); dev needs a Docker engine, all stacks the Pulumi CLI
	@command -v pulumi >/dev/null 2>&1 || { echo "the Pulumi CLI is not installed: https://www.pulumi.com/docs/iac/download-install/"; exit 1; }
	@[ "$(STACK)" != dev ] || docker info >/dev/null 2>&1 || { echo "the dev stack runs on the local Docker engine, which does not answer (docker info)"; exit 1; }
	pulumi whoami >/dev/null 2>&1 || pulumi login --local
	pulumi stack select --create $(STACK)
	pulumi up --stack $(STACK)

preview: setup ## pulumi preview of STACK, as a pull request's check runs it
	@command -v pulumi >/dev/null 2>&1 || { echo "the Pulumi CLI is not installed: https://www.pulumi.com/docs/iac/download-install/"; exit 1; }
	pulumi preview --stack $(STACK) --diff

render: setup ## Write the rendered configs, dashboards and (kubernetes stacks) manifests of STACK (default dev) to OUT (default build/STACK)
	uv run python -m infra.render --stack $(STACK) --out $(OUT)
	uv run python -m dashboards --stack $(STACK) --out $(OUT)/dashboards
	uv run python -m infra.manifests --stack $(STACK) --out $(OUT)/manifests

images: setup ## Build the serving and MLflow server images STACK (default dev) expects, with its names; PUSH=1 pushes them
	@command -v docker >/dev/null 2>&1 || { echo "make images needs Docker: the docker CLI is not installed"; exit 1; }
	@docker info >/dev/null 2>&1 || { echo "make images needs a running Docker engine, which does not answer (docker info)"; exit 1; }
	@images=$$(uv run python -m infra.build_images --stack $(STACK)) || exit 1; \
	echo "$$images" | while read -r ref dockerfile base; do \
	  echo "docker build -f $$dockerfile --build-arg BASE_IMAGE=$$base -t $$ref ."; \
	  docker build -f "$$dockerfile" --build-arg "BASE_IMAGE=$$base" -t "$$ref" . || exit 1; \
	  if [ -n "$(PUSH)" ]; then docker push "$$ref" || exit 1; fi; \
	done

bench: setup system-deps tools ## Measure the serving path (instrumentation on/off, against a plain ASGI peer), the program's build time, Prometheus' cost as models grow, the live stack and its HA tier
	uv run python bench/serving.py --pin
	uv run python bench/program.py
	uv run python bench/scale.py
	uv run python bench/live.py
	uv run python bench/live_ha.py

golden: setup ## Refresh the golden files after a deliberate change; review the diff
	UPDATE_GOLDEN=1 uv run pytest -q tests/test_render.py tests/test_dashboards.py -k golden

clean: ## Remove build outputs
	rm -rf build .pytest_cache .mypy_cache .ruff_cache
