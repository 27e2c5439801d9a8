# Two commands: `make run` (the whole app on embedded defaults) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test install lint format translations screenshots clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	bash scripts/system-deps.sh run
	$(BIN)/flask --app app db upgrade --directory migrations
	$(BIN)/flask --app app demo
	$(BIN)/honcho start -f Procfile

test: $(STAMP)
	bash scripts/system-deps.sh test
	$(BIN)/python -m pytest -n 2 -p no:cacheprovider

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

translations: $(STAMP)
	$(BIN)/flask --app app translate update
	$(BIN)/flask --app app translate compile

screenshots: $(STAMP)
	$(BIN)/python scripts/screenshots.py

clean:
	rm -rf $(VENV) instance
