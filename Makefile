# The two commands a newcomer needs are `make run` and `make test`; both install first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# checkov pins its own boto3, so it lives in a venv of its own: tests/infra runs it on the template.
CHECKOV_VENV := $(VENV)/tools/checkov
CHECKOV_VERSION := 3.3.30
STAGE ?= prod

.PHONY: install chromium run test deploy destroy lint format bench bench-outbound bench-reminders bench-broadcast clean

install: $(STAMP)

$(STAMP): pyproject.toml requirements.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check uv
	@$(BIN)/uv pip install --quiet --python $(BIN)/python -e '.[dev]'
	@test -x $(CHECKOV_VENV)/bin/python || $(BIN)/uv venv --quiet --python $(BIN)/python $(CHECKOV_VENV)
	@$(BIN)/uv pip install --quiet --python $(CHECKOV_VENV)/bin/python 'checkov==$(CHECKOV_VERSION)'
	@touch $(STAMP)

run: install
	$(BIN)/civicchat run

# Into the AWS account of your standard credentials (AWS_PROFILE, AWS_REGION); see README.
deploy: install
	$(BIN)/civicchat deploy --stage $(STAGE)

destroy: install
	$(BIN)/civicchat destroy --stage $(STAGE)

# The browser tests (tests/browser) drive Debian's chromium, never a browser Playwright downloads.
chromium:
	@test -x /usr/bin/chromium || { \
		SUDO=$$(test "$$(id -u)" = 0 || echo sudo); \
		$$SUDO apt-get update && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium; }

test: install chromium
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install
	$(BIN)/python benchmarks/run.py

bench-outbound: install
	$(BIN)/python benchmarks/outbound.py

bench-reminders: install
	$(BIN)/python benchmarks/reminders.py

bench-broadcast: install
	$(BIN)/python benchmarks/broadcast.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
