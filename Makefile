# The two README commands. Each sets up .venv on first use (idempotent; seconds when up to date).
PY := .venv/bin/python
PYTEST_ARGS ?=

.PHONY: env test demo

env:
	@bash tools/env/setup_env.sh

test: env
	$(PY) -m pytest tests $(PYTEST_ARGS)

demo: env
	$(PY) tools/misc/run_demo.py
