# The two commands: `make demo` and `make test`. Everything else supports them.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: demo test lint format bench clean

# The editable install compiles media_core/draw/_paint.c in place: rebuild it
# when the kernel or its build hook changes.
$(VENV)/.installed: pyproject.toml setup.py media_core/draw/_paint.c
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml $(VENV)/.installed
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

demo: $(VENV)/.installed
	DJANGO_SETTINGS_MODULE=config.settings.dev $(PY) manage.py migrate --noinput
	DJANGO_SETTINGS_MODULE=config.settings.dev $(PY) manage.py seed_demo
	DJANGO_SETTINGS_MODULE=config.settings.dev $(PY) manage.py seed_emergency
	DJANGO_SETTINGS_MODULE=config.settings.dev $(PY) manage.py seed_guidance
	@echo "Serving on http://$(HOST):$(PORT)/  (Ctrl-C to stop); two simulated ambulances start in a few seconds"
	@export DJANGO_SETTINGS_MODULE=config.settings.dev; trap 'kill 0' INT TERM EXIT; \
	( sleep 6; \
	  $(PY) manage.py simulate_ambulance --scenario stemi --user medic.alpha --duration 3600 --url http://$(HOST):$(PORT) --resume & \
	  $(PY) manage.py simulate_ambulance --scenario stroke --user medic.bravo --duration 3600 --url http://$(HOST):$(PORT) --seed 2 --resume & \
	  wait ) & \
	$(PY) -m uvicorn config.asgi:application --host $(HOST) --port $(PORT) --ws-max-size 262144 --lifespan off

test: $(VENV)/.installed-dev
	$(PY) -m pytest

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.installed-dev
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: $(VENV)/.installed-dev
	for b in bench/*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) var .pytest_cache build
	find media_core -name '*.so' -delete
