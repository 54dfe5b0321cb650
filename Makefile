# Two commands do everything on a fresh machine with only python3:
#   make run    console chat (or the Telegram bot when TELEGRAM_BOT_TOKEN is set)
#   make test   ruff + mypy + pytest
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck pytest bench soak validate clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# Reinstall only when the project metadata changes.
$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(PY) -m bot start

test: $(STAMP)
	$(PY) -m ruff check bot tests bench
	$(PY) -m ruff format --check bot tests bench
	$(PY) -m mypy
	$(PY) -m pytest -q

validate: $(STAMP)
	$(PY) -m bot validate knowledge

bench: $(STAMP)
	$(PY) -m bench.run_all

soak: $(STAMP)
	$(PY) -m bench.soak

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
