# oi-service: every developer and CI entry point. Nothing here needs the internet beyond PyPI and npm.
PY        ?= python3
VENV      := .venv
BIN       := $(VENV)/bin
BUF_VER   := 1.75.0
TOOLS     := .tools
BUF       := $(TOOLS)/node_modules/.bin/buf
# google/api/*.proto come from the googleapis-common-protos wheel, copied here for buf (no BSR access).
GAPI_DIR  := $(TOOLS)/googleapis
RUN_ARGS  ?=

.PHONY: run simulate test lint typecheck buf-lint gen gen-check unit bench bench-quick clean

$(BIN)/oi-server: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@

$(BUF):
	npm install --silent --no-audit --no-fund --prefix $(TOOLS) @bufbuild/buf@$(BUF_VER)

$(GAPI_DIR)/google/api/annotations.proto: $(BIN)/oi-server
	mkdir -p $(GAPI_DIR)/google/api
	$(BIN)/python -m server.api.protos copy-googleapis $(GAPI_DIR)

## run: the service against the live venues (oi-server defaults; pass flags with RUN_ARGS="...").
run: $(BIN)/oi-server
	$(BIN)/oi-server $(RUN_ARGS)

## simulate: the service against the built-in exchange simulator, fast polling.
simulate: $(BIN)/oi-server
	$(BIN)/oi-server --simulate --poll-interval 1 $(RUN_ARGS)

## test: everything CI checks: lint, types, protobuf lint and freshness, the test suite, quick benchmarks.
test: lint typecheck buf-lint gen-check unit

lint: $(BIN)/oi-server
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(BIN)/oi-server
	$(BIN)/mypy

buf-lint: $(BUF) $(GAPI_DIR)/google/api/annotations.proto
	$(BUF) lint
	$(BUF) build -o /dev/null

gen: $(BIN)/oi-server
	$(BIN)/python -m server.api.protos generate

gen-check: $(BIN)/oi-server
	$(BIN)/python -m server.api.protos check

unit: $(BIN)/oi-server
	$(BIN)/pytest -q $(PYTEST_ARGS)

bench: $(BIN)/oi-server
	$(BIN)/pip install -q -e '.[dev,bench]'
	$(BIN)/python -m bench.run_all

bench-quick: $(BIN)/oi-server
	$(BIN)/python -m bench.run_all --quick

clean:
	rm -rf $(VENV) $(TOOLS) .mypy_cache .ruff_cache .pytest_cache
