# pgcourse: `make lab` to study, `make test` to check everything. Both set up .venv first.
PYTHON     ?= python3
VENV       ?= .venv
BIN        := $(VENV)/bin
STAMP      := $(VENV)/.installed
# The CPU build of torch: on Linux, PyPI's default torch wheel pulls gigabytes of CUDA packages.
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
TORCH       := torch==2.13.0

.PHONY: setup lab test release clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --retries 1 --timeout 15 --no-deps --extra-index-url $(TORCH_INDEX) "$(TORCH)"
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

lab: setup            ## open the course in JupyterLab
	$(BIN)/jupyter lab notebooks/

test: setup           ## the whole test suite: unit tests, mutation suite, grading round trip, nbval
	$(BIN)/pytest tests --nbval-lax solutions

release: setup        ## regenerate notebooks/ from solutions/ (instructors)
	$(BIN)/pgcourse release

clean:
	rm -rf $(VENV) .pytest_cache graded
