# Two commands: `make book` builds the book from the committed records, `make test` runs every check.
# Both create the virtual environment .venv and install the pinned requirements when needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# the paper's images: $MGDL_DATA_DIR, else ../shared/data/images beside the repository, else downloaded on demand
ifndef MGDL_DATA_DIR
ifneq ($(wildcard ../shared/data/images),)
export MGDL_DATA_DIR := $(abspath ../shared/data/images)
endif
endif

.PHONY: book test check-book chromium venv clean

venv: $(STAMP)

# rfc3987-syntax (pulled in by jupyter-events through jsonschema[format-nongpl]) compiles ~35 Lark parsers when it
# is imported, and jsonschema imports it with nbformat: 4-6 s at the start of every papermill, nbval and jupyter-book
# process. No notebook or event schema uses its iri formats, and jsonschema skips a checker whose library is missing.
#
# pip compiles every installed module to bytecode on one core (about 40 s, most of it torch); the install skips that
# and compileall does it on all cores. Like pip, it leaves out the few files it cannot compile (torch ships one in
# Python 3.12 syntax), hence `|| true`; a module without bytecode compiles when imported.
$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/pip install -q --no-compile -r requirements.txt
	$(BIN)/python -m compileall -qq -j 0 $(VENV)/lib || true
	$(BIN)/pip install -q -e . --no-deps
	$(BIN)/pip uninstall -y -q rfc3987-syntax
	touch $(STAMP)

# the book reads committed records only: nothing is trained and no image is downloaded at build time;
# every notebook is executed first on all cores into an emptied cache (mgdlcore.report.book_cache), which the build
# reads and then removes, so no later build can take a stale page from it; --all re-renders every page (Sphinx would
# otherwise keep pages whose source did not change, even when the package or the records did)
book: $(STAMP)
	MGDL_TRAIN=never OMP_NUM_THREADS=1 $(BIN)/python -m mgdlcore.report.book_cache
	MGDL_TRAIN=never $(BIN)/jupyter-book build . --all -W -n --keep-going; status=$$?; \
	  rm -rf _build/.jupyter_cache; exit $$status

# lint, unit tests (two processes), every chapter's rerun line in the smoke profile (two at a time, check cells
# included), then nbval (two notebooks at a time) over every page in the paper profile on a copy of the committed
# records, training nothing (a run without a record shows as pending); `diff -r` then fails the test if any page
# wrote anything there. Last, the committed records: keys, ancestry and code fingerprints, and a rerun of the
# cheapest trained record of each task (image records: their first 100 epochs, whose loss curve must match)
test: $(STAMP)
	$(BIN)/ruff check .
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -n 2 --dist loadfile --durations=10 tests --ignore=tests/test_chapters.py
	PATH=$(abspath $(BIN)):$$PATH MGDL_RESULTS_DIR=$$(mktemp -d) $(BIN)/python -m pytest tests/test_chapters.py
	copy=$$(mktemp -d)/results && cp -r results $$copy && \
	  MGDL_PROFILE=paper MGDL_TRAIN=never MGDL_RESULTS_DIR=$$copy OMP_NUM_THREADS=1 \
	  $(BIN)/python -m pytest -n 2 --dist loadfile chapters && \
	  diff -r -x .checkpoints -x '*.lock' results $$copy
	$(BIN)/mgdl-results verify --rerun 1 --per-task --trained-only --prefix-epochs 100 --jobs 2

# the built book in a real browser (headless Chromium): images load and are captioned, no stderr or traceback,
# math typeset offline, tables within the content column; a screenshot of every page in _build/screenshots/
check-book: $(STAMP)
	@command -v chromedriver >/dev/null || $(MAKE) --no-print-directory chromium
	MGDL_CHECK_BUILT_BOOK=1 $(BIN)/python -m pytest tests/book -q -p no:cacheprovider -n 2

# Debian's chromium and its driver (needs root; elsewhere install them with your package manager)
chromium:
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver >/dev/null \
	  || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver >/dev/null; }

clean:
	rm -rf _build runs
