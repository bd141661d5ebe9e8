# oi-service: every developer and CI entry point. Nothing here needs the internet beyond PyPI and npm.
PY        ?= python3
VENV      := .venv
BIN       := $(VENV)/bin
BUF_VER   := 1.75.0
TOOLS     := .tools
BUF       := $(TOOLS)/node_modules/.bin/buf
# google/api/*.proto come from the googleapis-common-protos wheel, copied here for buf (no BSR access).
GAPI_DIR  := $(TOOLS)/googleapis
# The Node client: its packages (grpc-js, protoc-gen-es) come from its lockfile, by `npm ci`.
NODE_DIR  := clients/node
NODE_MODS := $(NODE_DIR)/node_modules/.package-lock.json
RUN_ARGS  ?=

# The dashboard's third-party browser files: installed from web/package-lock.json, vendored (committed)
# into the package so `pip install` alone serves them; tests/test_dashboard.py checks they match.
WEB       := web
VENDOR    := server/api/dashboard/vendor

.PHONY: run simulate cluster test lint typecheck buf-lint gen gen-check node-client node-gen node-gen-check unit \
	bench bench-quick clean web-assets

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

$(NODE_MODS): $(NODE_DIR)/package.json $(NODE_DIR)/package-lock.json
	cd $(NODE_DIR) && npm ci --silent --no-audit --no-fund
	@touch $@

## run: the service against the live venues (oi-server defaults; pass flags with RUN_ARGS="...").
run: $(BIN)/oi-server
	$(BIN)/oi-server $(RUN_ARGS)

## simulate: the service against the built-in exchange simulator, fast polling.
simulate: $(BIN)/oi-server
	$(BIN)/oi-server --simulate --poll-interval 1 $(RUN_ARGS)

## cluster: the scale-out split in one command: NATS (started if needed), one collector on the
## simulator, two API replicas (ports printed; pass options with RUN_ARGS="--replicas 3").
cluster: $(BIN)/oi-server
	$(BIN)/python -m server.cluster $(RUN_ARGS)

## test: everything CI checks: lint, types, protobuf lint and freshness (Python and Node), the test suite.
test: lint typecheck buf-lint gen-check node-gen-check unit

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

## node-client: install the Node client's packages (npm ci) and regenerate its code into clients/node/gen.
node-client: node-gen

node-gen: $(NODE_MODS) $(BUF) $(GAPI_DIR)/google/api/annotations.proto
	$(BUF) generate --template $(NODE_DIR)/buf.gen.yaml

# Regenerates into a temporary folder and fails when the committed clients/node/gen differs.
node-gen-check: $(NODE_MODS) $(BUF) $(GAPI_DIR)/google/api/annotations.proto
	@fresh=$$(mktemp -d) && trap 'rm -rf "$$fresh"' EXIT && \
	$(BUF) generate --template $(NODE_DIR)/buf.gen.yaml -o "$$fresh" && \
	if diff -r $(NODE_DIR)/gen "$$fresh/$(NODE_DIR)/gen"; then echo "generated Node code is fresh"; \
	else echo "generated Node code is stale; run \`make node-gen\` and commit $(NODE_DIR)/gen" >&2; exit 1; fi

# The Node client's test (tests/test_node_client.py) needs its packages.
unit: $(BIN)/oi-server $(NODE_MODS)
	$(BIN)/pytest -q $(PYTEST_ARGS)

bench: $(BIN)/oi-server
	$(BIN)/pip install -q -e '.[dev,bench]'
	$(BIN)/python -m bench.run_all

bench-quick: $(BIN)/oi-server
	$(BIN)/python -m bench.run_all --quick

## web-assets: refresh the vendored uPlot (script, stylesheet, licence) from web/'s npm lockfile.
web-assets:
	npm ci --silent --no-audit --no-fund --prefix $(WEB)
	cp $(WEB)/node_modules/uplot/dist/uPlot.iife.min.js $(WEB)/node_modules/uplot/dist/uPlot.min.css $(VENDOR)/
	cp $(WEB)/node_modules/uplot/LICENSE $(VENDOR)/uPlot.LICENSE.txt

clean:
	rm -rf $(VENV) $(TOOLS) $(NODE_DIR)/node_modules $(WEB)/node_modules .mypy_cache .ruff_cache .pytest_cache
