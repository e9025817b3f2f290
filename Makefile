# make lab   : set up .venv (first time only) and open the notebooks in JupyterLab
# make test  : set up .venv (first time only) and run every test, notebooks included (04-06 also with QUICK = True;
#              notebook 04's full run, 27 minutes on this project's 2-core CPU, only under make test-full)
# make test-full : the same, with notebook 04's full run
# make lint  : ruff
# make gpu-check : on a machine with an NVIDIA GPU, check gptedu's GPU paths in under 5 minutes (tests/gpu);
#              without CUDA every check is skipped (GPTEDU_GPU_CHECK_DEVICE=cpu: the check's CPU self-test)

VENV      ?= .venv
PYTHON    ?= python3
PY        := $(VENV)/bin/python
# The CPU build of PyTorch; a plain `pip install torch` may pick a multi-GB CUDA build.
TORCH_PIN ?= torch==2.13.0
# Offline copies for tests and CI: ../shared/data holds the-verdict.txt beside a clone.
SHARED_DATA ?= ../shared/data
TEST_CACHE  := $(CURDIR)/.cache/gptedu
# A Hugging Face hub cache holding a random stand-in for GPT-2 124M in the published layout (notebook 07).
HF_TEST_CACHE := $(CURDIR)/.cache/huggingface/hub

.PHONY: lab test test-full test-setup lint install clean gpu-check

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH_PIN)"
	$(PY) -m pip install --quiet -e ".[notebooks,dev]"
	touch $@

# As root (a container), JupyterLab refuses to start without --allow-root.
lab: install
	cd notebooks && ../$(PY) -m jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root)

# Tests use their own cache folder, seeded from ../shared/data when it exists (offline CI);
# otherwise load_text downloads the-verdict.txt once and checks its SHA-256.
# Notebooks 04, 05 and 06 also run with QUICK = True (copies in .cache/quick, tools/quick_notebooks.py);
# notebook 04's full run (27 minutes on this project's 2-core CPU) runs only under `make test-full`.
TEST_ENV := GPTEDU_CACHE_DIR=$(TEST_CACHE) TIKTOKEN_CACHE_DIR=$(CURDIR)/.cache/tiktoken HF_HUB_CACHE=$(HF_TEST_CACHE) HF_HUB_OFFLINE=1
NBVAL    := --nbval --nbval-sanitize-with tests/nbval_sanitize.cfg

test-setup: install
	@mkdir -p $(TEST_CACHE)
	@if [ -f $(SHARED_DATA)/the-verdict.txt ]; then cp $(SHARED_DATA)/the-verdict.txt $(TEST_CACHE)/; fi
	$(PY) tests/fixtures/make_hub_standin.py $(HF_TEST_CACHE)
	@rm -rf .cache/quick
	$(PY) tools/quick_notebooks.py .cache/quick

test: test-setup
	$(TEST_ENV) $(PY) -m pytest tests notebooks .cache/quick $(NBVAL) --ignore=notebooks/04_training_loop.ipynb \
		-v --durations=15 --junitxml=.cache/junit.xml
	$(PY) tools/notebook_times.py .cache/junit.xml
	$(PY) -m ruff check gptedu tests tools

test-full: test-setup
	$(TEST_ENV) $(PY) -m pytest tests notebooks .cache/quick $(NBVAL) -v --durations=15 --junitxml=.cache/junit.xml
	$(PY) tools/notebook_times.py .cache/junit.xml
	$(PY) -m ruff check gptedu tests tools

# The test environment of `make test` (TEST_ENV, the corpus seeded from ../shared/data), only tests/gpu;
# -rs lists the reason of each skipped check.
gpu-check: install
	@mkdir -p $(TEST_CACHE)
	@if [ -f $(SHARED_DATA)/the-verdict.txt ]; then cp $(SHARED_DATA)/the-verdict.txt $(TEST_CACHE)/; fi
	$(TEST_ENV) $(PY) -m pytest tests/gpu -m gpu -v -rs

lint: install
	$(PY) -m ruff check gptedu tests tools

clean:
	rm -rf $(VENV) .cache
