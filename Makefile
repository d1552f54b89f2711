# Cochlea: `make run` starts everything on embedded defaults; `make test` runs the suite.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run test lint typecheck schema bench lock clean

install: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

run: install
	$(BIN)/cochlea up

test: install
	$(BIN)/ruff check api workers tests bench
	$(BIN)/mypy
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check api workers tests bench
	$(BIN)/ruff format --check api workers tests bench

typecheck: install
	$(BIN)/mypy

schema: install
	$(BIN)/strawberry export-schema api.graphql.schema:schema --output schema.graphql

bench: install
	$(BIN)/python -m bench $(BENCH)

lock: install
	{ echo "# Exact versions of every package (runtime and dev) that Cochlea is tested with."; \
	  echo "# Regenerate with \`make lock\` after changing pyproject.toml."; \
	  $(BIN)/python -m pip freeze --exclude-editable | grep -v '^cochlea'; } > requirements.lock.new
	mv requirements.lock.new requirements.lock

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
