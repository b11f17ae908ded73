# autotag: `make train` and `make test` work as the first command on a fresh machine.
SHELL := /bin/bash
PY := .venv/bin/python
UV := $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
# The main job: quick CPU preset on the built-in synthetic corpus (generated on first use).
TRAIN_ARGS ?= experiment=synthetic_cpu

.PHONY: setup browser train test test-all lint format bench bench-all mtat jamendo clean help

help:  ## list targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

.venv/.ok: pyproject.toml uv.lock
	@command -v uv >/dev/null 2>&1 || [ -x "$(UV)" ] || python3 -m pip install --quiet --user uv || python3 -m pip install --quiet uv
	$(UV) sync --frozen --group dev --python 3.11 || $(UV) sync --frozen --group dev
	@touch $@

setup: .venv/.ok  ## create .venv with uv (installs uv with pip when missing); fetch musicnn's wheel; the test browser
	@$(PY) -m autotag.cli pretrained fetch --no-progress >/dev/null || echo "warning: musicnn's wheel could not be fetched (offline?): the musicnn:* models and their tests need it; run make setup again online" >&2
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || $(MAKE) --no-print-directory browser

# The page of `autotag serve` is tested in a real headless browser: Debian's chromium and its
# chromedriver (a browser that downloads itself, like `playwright install`, cannot here).
browser:  ## install headless Chromium + chromedriver from Debian's packages (as root; else prints the command)
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing chromium and chromium-driver (apt-get) for the browser test"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	else \
		echo "error: the browser test needs Chromium and its driver; run:  sudo apt-get install -y chromium chromium-driver  (then make setup again)" >&2; \
		exit 1; \
	fi

train: setup  ## generate the synthetic corpus, prepare the store, train, test, print AUC
	$(PY) train.py $(TRAIN_ARGS)

test: setup  ## fast test suite (< 10 min on 2 cores)
	$(PY) -m pytest -q

test-all: setup  ## every test, the slow ones included
	$(PY) -m pytest -q -m "not gpu"

lint: setup  ## ruff check + format check
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

format: setup
	.venv/bin/ruff format .
	.venv/bin/ruff check --fix .

bench: setup  ## speed goals of issue 11 (idle machine!); results go to bench/RESULTS.md
	$(PY) bench/prepare_e2e.py
	$(PY) bench/tag_speed.py
	$(PY) bench/store_reads.py

bench-all: bench  ## also prepare stages and whole tracks, training steps, the model zoo, one store for every split (an hour on 2 cores)
	$(PY) bench/prepare.py
	$(PY) bench/prepare_tracks.py
	$(PY) bench/train_step.py
	$(PY) bench/models.py
	$(PY) bench/shared_store.py

mtat: setup  ## download + verify + extract MagnaTagATune into data/mtat (resumable)
	$(PY) -m autotag.cli download mtat --root data/mtat

jamendo: setup  ## download + verify + extract MTG-Jamendo (audio, all 100 parts) into data/jamendo (resumable)
	$(PY) -m autotag.cli download jamendo --root data/jamendo

clean:  ## remove generated data, runs and caches (keeps .venv)
	rm -rf data outputs multirun wandb lightning_logs .pytest_cache .ruff_cache bench/out
