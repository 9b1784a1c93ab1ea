# Developer entry points. Everything runs from the virtual environment in .venv, which
# `make venv` builds and rebuilds only when a pyproject.toml, constraints.txt or
# requirements-dev.txt changes.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SERVICES := intake review payout followup
# Marks a finished install; its age against the inputs decides whether to install again.
STAMP := $(VENV)/.installed
INSTALL_INPUTS := pyproject.toml shared/pyproject.toml \
	$(foreach s,$(SERVICES),services/$(s)/pyproject.toml) partner-client/pyproject.toml \
	constraints.txt requirements-dev.txt
PYTEST_ARGS ?=
# The official AsyncAPI parser, which the tests run on the published message contract.
TOOLS := tools/contract
TOOLS_STAMP := $(TOOLS)/node_modules/.installed
CONTRACT := docs/contract

.DEFAULT_GOAL := help
.PHONY: help venv tools run demo report test test-unit test-chaos contract bench clean

help: ## Show the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@echo "  PYTEST_ARGS=... is passed to pytest by test and test-unit."

venv: $(STAMP) ## Create .venv and install every package, editable, with pinned dependencies

$(STAMP): $(INSTALL_INPUTS)
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "aidflow needs Python 3.11 or newer; run e.g. 'make PYTHON=python3.12 venv'" >&2; exit 1; }
	@# A venv without a working pip (interrupted, or its Python was removed) is rebuilt whole.
	@if ! $(BIN)/python -m pip --version >/dev/null 2>&1; then \
		rm -rf $(VENV); \
		echo "$(PYTHON) -m venv $(VENV)"; \
		$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); \
			echo "could not create $(VENV); on Debian or Ubuntu install the python3-venv package" >&2; exit 1; }; \
	fi
	$(BIN)/python -m pip install --disable-pip-version-check -c constraints.txt \
		-e shared $(foreach s,$(SERVICES),-e services/$(s)) -e partner-client -e . -r requirements-dev.txt
	@touch $@

tools: $(TOOLS_STAMP) ## Install the contract validator (Node.js packages pinned in tools/contract)

# Without npm the tests that need the parser skip, and fail under CI=true.
$(TOOLS_STAMP): $(TOOLS)/package.json $(TOOLS)/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		echo "npm ci --prefix $(TOOLS)"; \
		npm ci --prefix $(TOOLS) --no-audit --no-fund --ignore-scripts && touch $@; \
	else \
		echo "npm not found: the AsyncAPI document cannot be validated; install Node.js 18 or newer" >&2; \
	fi

run: venv ## Run all four services in one process (embedded: SQLite, no servers)
	$(BIN)/aidflow run

demo: venv ## Feed demo referrals into a running system
	$(BIN)/aidflow demo

# The period and folder of `make report`; the services are found as `aidflow report` finds them.
FROM ?= $(shell TZ=Asia/Shanghai date +%Y)-01-01
TO ?= $(shell TZ=Asia/Shanghai date +%Y-%m-%d)
OUT ?= data/report

report: venv ## Figures of a period from every service: report.txt, .csv, .png (FROM=, TO=, OUT=)
	$(BIN)/aidflow report --from $(FROM) --to $(TO) --out $(OUT)

test: venv tools ## Run the whole test suite
	$(BIN)/pytest $(PYTEST_ARGS)

test-unit: venv ## Run the unit tests only
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

# The fault-injection suite's long form (`make test` runs one bounded run of it): several runs,
# two replicas of review and payout; figures printed and written to data/chaos-figures.json.
CHAOS_RUNS ?= 3
CHAOS_SECONDS ?= 180
test-chaos: venv ## Run the fault-injection suite, long form (CHAOS_RUNS, CHAOS_SECONDS)
	@mkdir -p data
	AIDFLOW_CHAOS_RUNS=$(CHAOS_RUNS) AIDFLOW_CHAOS_SECONDS=$(CHAOS_SECONDS) AIDFLOW_CHAOS_REPLICAS=2 \
		AIDFLOW_CHAOS_FIGURES=data/chaos-figures.json $(BIN)/pytest tests/chaos $(PYTEST_ARGS)

contract: venv ## Regenerate the published message contract in docs/contract after changing a message type
	$(BIN)/python -m aidflow_shared.asyncapi --output $(CONTRACT)/asyncapi.yaml
	$(BIN)/python -m aidflow_shared.contracts.compat --snapshot $(CONTRACT)/snapshot.json --update

bench: venv ## Measure the referral-to-payout pipeline
	$(BIN)/python bench/pipeline.py

clean: ## Remove .venv, data/ and every build and test cache
	rm -rf $(VENV) $(TOOLS)/node_modules data .pytest_cache .hypothesis \
		build dist shared/build shared/dist services/*/build services/*/dist \
		partner-client/build partner-client/dist
	find . -path ./.git -prune -o \( -name __pycache__ -o -name '*.egg-info' \) -type d -prune -exec rm -rf {} +
