# The one task runner. `make help` lists the targets.
PY ?= python3

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

install: ## install the package and test tools (editable)
	$(PY) -m pip install -e '.[test]'

test: ## run the test suite (starts real servers on free loopback ports)
	$(PY) -m pytest

lint: ## ruff
	ruff check graph server tests bench

typecheck: ## mypy
	mypy

check: lint typecheck test ## everything CI checks

validate: ## SHACL-validate the bundled graph
	rabat-kg validate

build: ## write dumps into dist/
	rabat-kg build --out dist

serve: ## serve on http://127.0.0.1:8000/
	rabat-kg serve

bench: ## run the benchmark (writes bench/RESULTS.md)
	$(PY) -m pip install -e '.[bench]' && $(PY) bench/run.py

.PHONY: help install test lint typecheck check validate build serve bench
