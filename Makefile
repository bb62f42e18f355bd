# Coatro: `make dev` runs the local stack, `make test` runs every test. See README.md.
# `make test-cloud` smoke-tests a deployed project (docs/testing.md).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TENANT ?=

.PHONY: dev test test-unit test-cloud lint tail key client bench-events bench-bulk bench-reports bench-export bench-isolation venv lock clean

venv: $(VENV)/.installed

# Everything comes from requirements-dev.lock, pinned with hashes (pip itself included). The lock is
# the whole set, so --no-deps (which also spares the venv's own older pip its trouble with extras in
# hash mode, before 23.3) and `pip check` proves the set is consistent. ./client is installed on its
# own, editable, without dependencies (they are in the lock) and without build isolation (its build
# backend, setuptools, is in the lock too): an editable install carries no hash.
$(VENV)/.installed: requirements-dev.lock client/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --require-hashes --no-deps -r requirements-dev.lock
	$(VENV)/bin/pip install --quiet --no-deps --no-build-isolation -e ./client
	$(VENV)/bin/pip check
	touch $@

# requirements*.txt say what the code needs; `make lock` resolves them into requirements*.lock (uv pip
# compile: every package pinned, with the hashes of all its files, for Python 3.11 on any platform).
# Existing pins are kept; LOCK_ARGS=--upgrade (or --upgrade-package NAME) moves them. The functions'
# lock is solved inside the dev lock, so the tests run the versions that are deployed.
LOCK_ARGS ?=
UV_COMPILE = $(VENV)/bin/uv pip compile --quiet --universal --python-version 3.11 --generate-hashes \
	--no-emit-index-url --custom-compile-command "make lock" $(LOCK_ARGS)

lock: venv  ## re-resolve requirements*.txt into requirements*.lock (pins + hashes): make lock [LOCK_ARGS=--upgrade]
	$(UV_COMPILE) requirements-dev.txt client/pyproject.toml -o requirements-dev.lock
	$(UV_COMPILE) -c requirements-dev.lock requirements.txt -o requirements.lock
	$(UV_COMPILE) requirements-checkov.txt -o requirements-checkov.lock

dev: venv  ## the local stack on http://localhost:8080 (Ctrl-C stops it)
	$(PY) -m local.stack

# The running local stack's emulator addresses, from local/stack.py (where the ports are written).
LOCAL_ENV = env $$($(PY) -m local.stack --print-env)

tail: venv  ## print what lands on pop-events in the running local stack
	$(LOCAL_ENV) $(PY) -m local.tail

key: venv  ## create an API key in the running local stack: make key TENANT=acme
	$(LOCAL_ENV) $(PY) -m tools.admin create-key $(TENANT)

SCOPES ?= pop:write reports:read
client: venv  ## create an OAuth2 client in the running local stack: make client TENANT=acme [SCOPES=pop:write]
	$(LOCAL_ENV) $(PY) -m tools.admin create-client $(TENANT) --scopes $(SCOPES)

lint: venv  ## ruff (lint, format), mypy (strict on shared/ and functions/), import-linter (the layers)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

test-unit: venv  ## the fast tier for the edit-test loop: tests/unit, no emulators (under 30 s)
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

test: venv  ## unit, integration and end-to-end tests (starts its own emulators)
	$(PY) -m pytest $(PYTEST_ARGS)

# tests/cloud, which `make test` never collects. Without COATRO_CLOUD_BASE_URL pytest skips every test
# with that reason (exit 0); any other problem fails. See docs/testing.md.
test-cloud: venv  ## smoke tests against a DEPLOYED project: make test-cloud COATRO_CLOUD_BASE_URL=https://... (docs/testing.md)
	@test -n "$(COATRO_CLOUD_BASE_URL)" || echo "test-cloud: COATRO_CLOUD_BASE_URL is not set, no deployed Coatro to test: the cloud tier is skipped."
	COATRO_CLOUD_BASE_URL="$(COATRO_CLOUD_BASE_URL)" $(PY) -m pytest tests/cloud -rs $(PYTEST_ARGS)

bench-events: venv  ## events endpoint throughput through the local gateway, with its two ceilings
	$(PY) -m bench.events

bench-bulk: venv  ## a 1,000,000-row NDJSON file through the local stack: rows/s, peak RSS, ceilings
	$(PY) -m bench.bulk

bench-reports: venv  ## report latency over 1,000,000 events in the local BigQuery, and publish-to-visible time
	$(PY) -m bench.reports

bench-export: venv  ## a month's export of 1,000,000 plays: time, rows, exporter peak RSS; rows equal the cursor API's
	$(PY) -m bench.export

bench-isolation: venv  ## what a hostile mapping costs (RE2 extract, where-in) and another tenant's latency beside it
	$(PY) -m bench.isolation

clean:
	rm -rf $(VENV) .local-stack .pytest_cache

# ---- Cloud deployment (infra/, cloudbuild.yaml; see README.md, "Deploy")
CHECKOV_VENV ?= .venv-checkov
PROJECT_ID ?=
REGION ?= europe-west1
TF_STATE_BUCKET ?=
TF_STATE_PREFIX ?= coatro

.PHONY: checkov package infra-check deploy

checkov: $(CHECKOV_VENV)/.installed

# checkov's pins clash with the app's, so it has a venv of its own.
$(CHECKOV_VENV)/.installed: requirements-checkov.lock
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --require-hashes --no-deps -r requirements-checkov.lock
	$(CHECKOV_VENV)/bin/pip check
	touch $@

test: checkov  # tests/infra runs checkov on infra/

package: venv  ## one zip per function (main.py + shared/ + requirements.txt), named by content hash
	$(PY) scripts/package_functions.py

infra-check: venv checkov  ## only the offline Terraform checks (fmt, checkov, structure)
	$(PY) -m pytest tests/infra $(PYTEST_ARGS)

deploy: package  ## deploy to Google Cloud: make deploy PROJECT_ID=my-project TF_STATE_BUCKET=my-tf-state
	@test -n "$(PROJECT_ID)" -a -n "$(TF_STATE_BUCKET)" || { echo "usage: make deploy PROJECT_ID=... TF_STATE_BUCKET=... [REGION=...]" >&2; exit 2; }
	terraform -chdir=infra init -input=false -backend-config="bucket=$(TF_STATE_BUCKET)" -backend-config="prefix=$(TF_STATE_PREFIX)"
	terraform -chdir=infra plan -input=false -var="project_id=$(PROJECT_ID)" -var="region=$(REGION)" -out=tfplan
	terraform -chdir=infra apply -input=false tfplan
