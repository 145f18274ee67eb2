# pgcourse: `make lab` to study, `make test` to check everything. Both set up .venv first.
PYTHON     ?= python3
VENV       ?= .venv
BIN        := $(VENV)/bin
STAMP      := $(VENV)/.installed
# The CPU build of torch: on Linux, PyPI's default torch wheel pulls gigabytes of CUDA packages.
# `make setup TORCH_INDEX=` where pip already finds a CPU wheel (CI: a local wheel directory).
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
TORCH       := torch==2.13.0
UV          := uv==0.13.9

.PHONY: setup lab test test-full release clean

setup: $(STAMP)

# torch with pip (it finds the CPU wheel where pip's own configuration says); everything else with
# uv, which installs the ~200 packages in under a minute where pip takes two and a half (pip again
# if uv cannot be had). --compile-bytecode: the .pyc files pip would have written.
# Left out, whichever installed (excluded-requirements.txt): rfc3987-syntax, which builds a parser
# when it is imported, 2.2-2.5 s in every process that imports nbformat (each nbgrader command,
# Jupyter server and grading worker).
$(STAMP): pyproject.toml excluded-requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --retries 1 --timeout 15 --no-deps $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX)) "$(TORCH)"
	($(BIN)/pip install --quiet "$(UV)" && $(BIN)/uv pip install --quiet --native-tls --python $(BIN)/python \
	    --compile-bytecode --excludes excluded-requirements.txt -e ".[dev]") || $(BIN)/pip install --quiet -e ".[dev]"
	$(BIN)/pip uninstall -qq --yes -r excluded-requirements.txt   # pip's install, or an older .venv
	touch $(STAMP)

# The server's terminals inherit its PATH: with .venv/bin first, `pgcourse check NN_topic.ipynb` (what the
# notebooks tell students to run) works in a JupyterLab terminal. The shell is named, so that the server never
# starts a login shell (it does when its stdout is not a terminal), whose /etc/profile would reset PATH.
# The server runs in notebooks/, where a new terminal opens (JupyterLab asks for the file browser's folder,
# which the server resolves against its own working folder first).
# LAB_ARGS: extra options (tests/test_lab_terminal.py: a port, a token). Only this target reads it.
LAB_ARGS ?=
lab: setup            ## open the course in JupyterLab
	cd notebooks && PATH="$(abspath $(BIN)):$$PATH" VIRTUAL_ENV="$(abspath $(VENV))" $(abspath $(BIN))/jupyter lab \
	    --ServerApp.terminado_settings=shell_command="$${SHELL:-/bin/bash}" $(LAB_ARGS)

# `make test` on two cores. Grading every notebook (tests/test_grading.py) runs all seven solution
# notebooks under the autograder's budget and checks that no cell raised; nbval adds, at their full
# budget, the notebooks whose long cells the autograder shortens, where that takes seconds (03, 04).
# The full budgets of 05 and 06 take minutes: `make test-full` (what CI runs) adds them, and
# benchmarks/cartpole.py and benchmarks/llm_lab.py measure them.
# The tests marked `full` run there too: the forgery suite (about 6 minutes of grading) and the term on
# a real JupyterHub (tests/test_hub.py, about 3 minutes).
test: setup           ## the whole test suite: unit tests, mutation suite, grading round trip, nbval
	$(BIN)/pytest -n 2 --dist loadscope --durations=15 -m "not full" tests --nbval-lax solutions/03_reinforce_derivation.ipynb solutions/04_reward_to_go.ipynb

test-full: test       ## what CI runs: make test, then the forgery suite, the hub's term and notebooks 05 and 06 at full budgets
	$(BIN)/pytest -n 2 --dist loadscope --durations=15 tests/test_forgery.py tests/test_hub.py --nbval-lax solutions/05_cartpole.ipynb solutions/06_llm_summarization.ipynb

release: setup        ## regenerate notebooks/ from solutions/ (instructors)
	$(BIN)/pgcourse release

clean:
	rm -rf $(VENV) .pytest_cache graded
