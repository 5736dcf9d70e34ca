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

.PHONY: bench
bench: $(VENV)/.installed ## Benchmarks (overhead against plain Ray Tune, exporter throughput); see bench/README.md.
	$(BIN)/python bench/overhead.py
	$(BIN)/python bench/exporter.py

##@ Tools

.PHONY: tools
tools: prometheus ## Install the external tools the tests drive.

.PHONY: prometheus
prometheus: ## Install Prometheus and promtool (Debian package) when missing.
	@command -v prometheus >/dev/null && command -v promtool >/dev/null || { \
		echo "installing prometheus (apt)"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null; }
	@promtool --version | head -1

.PHONY: clean
clean: ## Remove the venv and caches.
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build src/*.egg-info
