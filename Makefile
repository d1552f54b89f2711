# Cochlea: `make run` starts everything on embedded defaults; `make test` runs the suite.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
WEB    := web/vendor/.installed

.PHONY: install run test lint typecheck schema bench lock clean

install: $(STAMP) $(WEB)

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	@# pip shows build-backend warnings even when quiet; this one (setuptools' notice that an
	@# install is editable) says nothing to act on. Other warnings and all errors still show.
	$(BIN)/python -W "ignore:Editable installation:UserWarning" -m pip install --quiet --no-deps -e .
	touch $(STAMP)

# The explorer's npm packages (pinned in web/package-lock.json), copied into git-ignored web/vendor/.
$(WEB): web/package.json web/package-lock.json web/scripts/vendor.mjs
	@if command -v npm >/dev/null 2>&1 && command -v node >/dev/null 2>&1; then \
	  cd web && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error \
	    && node scripts/vendor.mjs && touch vendor/.installed; \
	else \
	  echo "Node 20+ and npm not found: the web explorer at / is not installed" \
	    "(the API still serves /graphql); install them and run make install"; \
	fi

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
