# One entry point for everything: install, run, test, lint, bench. Needs only python3 (3.11+), make, git.
PYTHON ?= python3
UV := .tools/bin/uv
VENV := .venv
PY := $(VENV)/bin/python
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)
ARGS ?=

.PHONY: install viewer run test unit integration e2e lint typecheck fmt bench clean

$(UV):
	$(PYTHON) -m venv .tools && .tools/bin/pip install --quiet --disable-pip-version-check uv

# Byte-compiled at install: every service start (and restart after a crash) then loads
# compiled modules, even where Python may not write them itself (PYTHONDONTWRITEBYTECODE,
# read-only trees).
$(VENV)/.installed: $(UV) uv.lock pyproject.toml libs/*/pyproject.toml services/*/pyproject.toml
	$(UV) sync --locked --compile-bytecode --python $(PYTHON)
	$(VENV)/bin/python -m compileall -q libs services bench >/dev/null
	touch $@

install: $(VENV)/.installed viewer

viewer: $(VENV)/.installed  ## the web viewer (OHIF, pinned) from the npm registry, when npm is present
	@$(PY) -m dicomstack viewer

run: install  ## start the whole stack on embedded defaults and print the URLs
	$(PY) -m dicomstack run $(ARGS)

test: install  ## every tier: unit, integration, end-to-end
	$(PY) -m pytest libs services tests $(ARGS)

unit: install
	$(PY) -m pytest libs services $(ARGS)

integration: install
	$(PY) -m pytest tests/integration $(ARGS)

e2e: install
	$(PY) -m pytest tests/e2e $(ARGS)

lint: install
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check . && $(VENV)/bin/hadolint Dockerfile
	$(MAKE) typecheck

typecheck: install
	$(VENV)/bin/mypy libs/dicomcommon/dicomcommon libs/dicomstack/dicomstack services/stow/stow services/qido/qido services/wado/wado services/delow/delow services/indexer/indexer libs/dicomwebcli/dicomweb services/dimse/dimse bench

fmt: install
	$(VENV)/bin/ruff check --fix . && $(VENV)/bin/ruff format .

bench: install  ## start the stack (or use --target URL) and print throughput / latency figures
	$(PY) -m bench $(ARGS)

clean:
	rm -rf .data .viewer .pytest_cache .mypy_cache .ruff_cache
