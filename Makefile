# Two commands do all the set-up on a fresh machine:
#   make run    creates .venv if absent, installs, and reproduces the paper (mnistlab reproduce)
#   make test   creates .venv if absent, installs, and runs the test suite
# The data come from MNISTLAB_DATA, the user cache, or a download (see README).

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
ARGS   ?=

.PHONY: run test lint bench docs clean

$(BIN)/mnistlab: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[serve,dev,export,docs,tune,tensorboard,reader]'
	touch $@

run: $(BIN)/mnistlab
	$(BIN)/mnistlab reproduce $(ARGS)

test: $(BIN)/mnistlab
	$(BIN)/python -m pytest --durations=15 $(ARGS)

lint: $(BIN)/mnistlab
	$(BIN)/ruff check src tests && $(BIN)/ruff format --check src tests

bench: $(BIN)/mnistlab
	$(BIN)/mnistlab bench $(ARGS)

# The documentation site, from docs/ into site/ (git-ignored); `$(BIN)/mkdocs serve` previews it.
# site/draw/ is the static drawing page (`mnistlab site`), which docs/site.md links to.
docs: $(BIN)/mnistlab
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict $(ARGS)
	$(BIN)/mnistlab site site/draw

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache site
