# The two commands of the quick start: each sets itself up (virtual environment, install, database).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo serve test lint bench check-bpmn messages clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/python -m compileall -q cli web usecases engine store handlers i18n >/dev/null
	touch $(STAMP)

demo: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" bash scripts/demo.sh

# The demo year in a browser: the demo's users get passwords (printed), then `opsqa serve` on port 8080.
serve: $(STAMP)
	test -f demo-out/opsqa.db || $(MAKE) demo
	$(BIN)/python scripts/serve_demo.py demo-out/opsqa.db 8080

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/python -m bench

# The catalogue: extract the messages (ours and click's) into i18n/opsqa.pot, merge them into each
# language's .po (translate the new and fuzzy entries there), compile the .mo that opsqa reads.
CLICK_DIR = $(shell $(BIN)/python -c 'import click, os; print(os.path.dirname(click.__file__))')
messages: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg --no-location --sort-output --project opsqa \
		--msgid-bugs-address "" --copyright-holder "" -o i18n/opsqa.pot . $(CLICK_DIR)
	$(BIN)/pybabel update -D opsqa -i i18n/opsqa.pot -d i18n/locale --no-wrap --ignore-obsolete
	$(BIN)/pybabel compile --statistics -D opsqa -d i18n/locale

check-bpmn:
	bash tools/check-bpmn.sh

clean:
	rm -rf $(VENV) demo-out *.egg-info
