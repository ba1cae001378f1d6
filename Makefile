# cdp-operator: every workflow is one target. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
LOCAL := .localcluster
export KUBECONFIG ?= $(CURDIR)/$(LOCAL)/kubeconfig
export PATH := $(CURDIR)/$(LOCAL)/bin:$(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: help venv binaries image cluster-up cluster-down crds check-crds docs-check admission install uninstall run demo test test-full lint fmt bench bench-realnode

help: ## List targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (Python 3.11)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

venv: $(VENV)/.installed ## Create .venv with the operator and dev tools

binaries: ## Build (or reuse) kube-apiserver, controller-manager, scheduler, kubectl, etcd, kwok, helm
	@hack/controlplane/build.sh >/dev/null

image: venv ## Build the operator image (dist/); pushed to the local registry when the cluster runs one
	@registry=$$($(PY) hack/localcluster.py env | sed -n 's/^export CDP_REGISTRY=//p'); \
	REGISTRY=$${REGISTRY:-$$registry} hack/image/build.sh

cluster-up: venv ## Start the local control plane on 127.0.0.1 (.localcluster/); as root on Linux also a registry and a real node
	@$(PY) hack/localcluster.py up

cluster-down: venv ## Stop the demo operator, the local control plane and the real node; remove their state and host changes
	@if [ -f $(LOCAL)/operator.pid ] && kill -0 $$(cat $(LOCAL)/operator.pid) 2>/dev/null; then \
		kill $$(cat $(LOCAL)/operator.pid) && echo "stopped the demo operator"; fi
	@$(PY) hack/localcluster.py down

crds: venv ## Regenerate crds/ from the pydantic models
	$(PY) -m cdp_operator.models.crdgen --out crds

check-crds: venv ## Fail when crds/ differs from what the models generate
	$(PY) -m cdp_operator.models.crdgen --check crds

docs-check: venv ## Fail when README.md or docs/cli.md shows CLI output the CLI does not print (make test also runs their kubectl examples)
	$(PY) -m pytest -q tests/unit/test_readme.py tests/unit/test_cli.py -k "docs or readme"

admission: ## Regenerate admission/ (the chart's admission policies, for kubectl installs)
	@helm="$$(hack/controlplane/build.sh | tail -1)/helm" && { \
		echo "# Generated from charts/cdp-operator by \`make admission\` (helm template cdp-operator"; \
		echo "# charts/cdp-operator --show-only templates/admissionpolicy.yaml). Do not edit: change"; \
		echo "# the template. tests/unit/test_admission_policy.py checks that the two agree."; \
		"$$helm" template cdp-operator charts/cdp-operator --show-only templates/admissionpolicy.yaml \
			2> >(grep -v 'found symbolic link' >&2); \
	} > admission/policies.yaml.tmp && mv admission/policies.yaml.tmp admission/policies.yaml
	@echo "wrote admission/policies.yaml"

install: ## Install the CRDs into the current cluster (KUBECONFIG)
	kubectl apply --server-side -f crds/

uninstall: ## Remove admission/ if applied, then the CRDs (and with them every custom resource)
	kubectl delete --ignore-not-found -f admission/
	kubectl delete --ignore-not-found -f crds/

run: venv ## Run the operator in the foreground against the current kubeconfig
	$(PY) -m cdp_operator

demo: venv ## Local control plane + CRDs + samples + operator; shows what appears
	@hack/demo.sh

test: venv ## The test suite CI runs (starts the local control plane when no cluster is given)
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

test-full: venv ## Every test, slow ones included
	$(PY) -m pytest $(PYTEST_ARGS)

lint: venv ## ruff, mypy and the layering contract
	$(VENV)/bin/ruff check operator tests hack
	$(VENV)/bin/ruff format --check operator tests hack
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

fmt: venv ## Format the code
	$(VENV)/bin/ruff format operator tests hack
	$(VENV)/bin/ruff check --fix operator tests hack

bench: venv ## Benchmarks on the local control plane (docs/benchmarks.md)
	$(PY) hack/bench/run.py

bench-realnode: venv ## create->pod Ready and HA failover with the chart on a real node (root; docs/benchmarks.md)
	$(PY) hack/bench/realnode.py $(BENCH_ARGS)
