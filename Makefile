# Everything a newcomer needs: `make run` (local platform) and `make test`.
# Both create the virtualenv with the pinned packages on first use.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SAM_VENV := .venv-sam
# Only what a Lambda has (the layers' pins plus the dev lock's boto3): cold starts are measured there.
RUNTIME_VENV := .venv-runtime
RUNTIME_STAMP := $(RUNTIME_VENV)/.installed
SAM_VERSION := 1.170.0
# `sam build` needs the Lambda runtime's interpreter (python3.12) on PATH.
PY312_DIR := $(shell command -v python3.12 >/dev/null 2>&1 && python3.12 -c 'import sys,os;print(os.path.dirname(sys.executable))' 2>/dev/null || ls -d /root/.pyenv/versions/3.12*/bin 2>/dev/null | tail -n1)

export AWS_DEFAULT_REGION ?= eu-west-1
export SAM_CLI_TELEMETRY := 0

.PHONY: venv test lint typecheck run demo bench sam-build lock clean browser screenshots openapi

venv: $(STAMP)

$(STAMP): requirements-dev.txt layers/common/requirements.txt layers/voice/requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

lint: venv typecheck
	$(BIN)/ruff check .
	$(BIN)/cfn-lint template.yaml

# mypy over layers/ and functions/ (settings in pyproject.toml).
typecheck: venv
	$(BIN)/mypy

test: lint browser
	$(BIN)/pytest

# The admin console's browser tests use the system's Chromium; installed here when missing.
browser:
	@scripts/ensure_chromium.sh

# PNGs of the console's main screens (docs/screenshots/, shown in the README), from the browser tests.
screenshots: venv browser
	SCREENSHOTS=1 $(BIN)/pytest tests/browser -q

# The whole platform locally (moto, the template's routes and pollers, a fake Graph API).
run: venv
	PYTHONPATH=layers/common:. $(BIN)/python -m devstack run

# Cold starts, warm overhead, AWS requests and cost per message; writes bench/results.json.
bench: venv $(RUNTIME_STAMP)
	BENCH_RUNTIME_PYTHON=$(RUNTIME_VENV)/bin/python $(BIN)/python bench/run.py

$(RUNTIME_STAMP): layers/common/requirements.txt layers/voice/requirements.txt requirements-dev.txt
	test -x $(RUNTIME_VENV)/bin/python || $(PYTHON) -m venv $(RUNTIME_VENV)
	$(RUNTIME_VENV)/bin/python -m pip install --quiet -r layers/common/requirements.txt \
		-r layers/voice/requirements.txt $$(grep -E '^(boto3|botocore|s3transfer|jmespath)==' requirements-dev.txt)
	touch $@

# The admin API's OpenAPI document, committed as docs/openapi.json (a unit test fails when it drifts).
openapi: venv
	$(BIN)/python scripts/openapi.py

# A scripted conversation against a running `make run`.
demo: venv
	PYTHONPATH=layers/common:. $(BIN)/python -m devstack demo

# CI also proves the template builds. SAM lives in its own virtualenv: its pins differ from ours.
sam-build:
	test -x $(SAM_VENV)/bin/sam || ($(PYTHON) -m venv $(SAM_VENV) && $(SAM_VENV)/bin/pip install --quiet aws-sam-cli==$(SAM_VERSION))
	test -n "$(PY312_DIR)" || (echo "python3.12 is needed by sam build" && exit 1)
	PATH="$(PY312_DIR):$$PATH" $(SAM_VENV)/bin/sam build --template template.yaml

# Re-resolve the lock from requirements-dev.in.
lock:
	rm -rf /tmp/wabot-lock && $(PYTHON) -m venv /tmp/wabot-lock
	/tmp/wabot-lock/bin/pip install --quiet -r requirements-dev.in
	/tmp/wabot-lock/bin/pip freeze --exclude-editable > requirements-dev.txt

clean:
	rm -rf $(VENV) $(SAM_VENV) $(RUNTIME_VENV) .aws-sam .pytest_cache .ruff_cache .mypy_cache
