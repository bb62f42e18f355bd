# Coatro: `make dev` runs the local stack, `make test` runs every test. See README.md.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TENANT ?=

.PHONY: dev test tail key bench-events venv clean

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements-dev.txt
	touch $@

dev: venv  ## the local stack on http://localhost:8080 (Ctrl-C stops it)
	$(PY) -m local.stack

tail: venv  ## print what lands on pop-events in the running local stack
	FIRESTORE_EMULATOR_HOST=127.0.0.1:8681 PUBSUB_EMULATOR_HOST=127.0.0.1:8685 GOOGLE_CLOUD_PROJECT=coatro-local \
		$(PY) -m local.tail

key: venv  ## create an API key in the running local stack: make key TENANT=acme
	FIRESTORE_EMULATOR_HOST=127.0.0.1:8681 GOOGLE_CLOUD_PROJECT=coatro-local $(PY) -m tools.admin create-key $(TENANT)

test: venv  ## unit, integration and end-to-end tests (starts its own emulators)
	$(PY) -m pytest $(PYTEST_ARGS)

bench-events: venv  ## events endpoint throughput through the local gateway, with its two ceilings
	$(PY) -m bench.events

clean:
	rm -rf $(VENV) .local-stack .pytest_cache
