# One task runner for digest. Every target creates .venv and installs the project first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
DEMO   := examples/demo/feeds.yaml
# The demo's stories are written for the edition of Monday 30 November 2026.
DEMO_EDITION := 2026-11-30
# Run a second time on PostgreSQL when DIGEST_TEST_DATABASE_URL is set (the rest of the suite
# already covers both databases where it touches one).
PG_SUITE := tests/test_app.py tests/test_cli.py tests/test_daemon.py tests/test_refresh.py \
            tests/test_retention.py tests/test_opml.py tests/test_serve.py tests/test_features.py \
            tests/test_readers_cli.py tests/test_web.py tests/test_web_serve.py \
            tests/test_bounces.py tests/test_bounces_mailbox.py tests/test_webhooks_web.py \
            tests/test_edits.py tests/test_edits_daemon.py tests/test_editor_web.py

.PHONY: install vectors caniemail demo test test-fast test-dates check lint bench mutate clean

# Two steps: what digest needs to run (`make demo`), then the test and lint tools on top
# (`make test`, `make check`, ...), so a first demo does not wait for pytest, mypy and Playwright.
RUNTIME := $(VENV)/.runtime-stamp
$(RUNTIME): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "digest needs Python 3.11 or newer (set PYTHON=python3.12, say)"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .
	@touch $(RUNTIME)

$(STAMP): $(RUNTIME)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP) vectors caniemail

# Upstream test vectors for tests/test_parse_hostile.py: html5lib's and bleach's own test data,
# read in place from their sdists in .venv/vectors (never copied into the repository). Fetched
# once; offline, the download fails quietly and that test skips with a reason. html5lib 1.1's
# setup.py imports pkg_resources, which newer setuptools lack: its sdist's metadata is prepared
# with an older one.
VECTORS := $(VENV)/vectors
PIP_VECTORS := $(BIN)/python -m pip download --quiet --disable-pip-version-check --no-deps \
               --no-binary :all: --retries 0 --timeout 15 --dest $(VECTORS)
vectors: $(STAMP)
	@mkdir -p $(VECTORS)
	@test -f $(VECTORS)/bleach-6.2.0.tar.gz || $(PIP_VECTORS) bleach==6.2.0 >/dev/null 2>&1 || \
	  echo "could not download bleach 6.2.0's sdist: the URL test-vector test will skip"
	@test -f $(VECTORS)/html5lib-1.1.tar.gz || { echo 'setuptools<70' > $(VECTORS)/build.txt && \
	  PIP_CONSTRAINT=$(CURDIR)/$(VECTORS)/build.txt $(PIP_VECTORS) html5lib==1.1 >/dev/null 2>&1; } || \
	  echo "could not download html5lib 1.1's sdist: the URL test-vector test will skip"
	@test -f $(VECTORS)/flufl.bounce-4.0.tar.gz || $(PIP_VECTORS) flufl.bounce==4.0 >/dev/null 2>&1 || \
	  echo "could not download flufl.bounce 4.0's sdist: the real-bounce test will skip"

# caniemail's support data, through doiuse-email from npm, for tests/test_email_clients.py: a
# dev-only tool in .venv/node, never a dependency of digest, nothing of it in the repository (no
# package.json, no lockfile). Installed once per pinned version; without npm or the registry the
# install fails quietly (no retries, 15 s per request) and that test skips with a reason.
DOIUSE_EMAIL := 0.4.1
NODE_TOOLS   := $(VENV)/node
caniemail: $(STAMP)
	@grep -qs '"version": "$(DOIUSE_EMAIL)"' $(NODE_TOOLS)/node_modules/doiuse-email/package.json || \
	  { command -v npm >/dev/null 2>&1 && \
	    npm install --prefix $(NODE_TOOLS) --no-save --no-package-lock --ignore-scripts --no-audit \
	      --no-fund --fetch-retries 0 --fetch-timeout 15000 doiuse-email@$(DOIUSE_EMAIL) \
	      >/dev/null 2>&1; } || \
	  echo "could not install doiuse-email $(DOIUSE_EMAIL) from npm: the email-client test will skip"

demo: $(RUNTIME)
	$(BIN)/digest --config $(DEMO) build --preview --edition $(DEMO_EDITION)

# Real peers for some tests, from Debian's packages: chromium (browser tests), spamassassin (the
# demo's spam score) and dovecot-imapd (the bounce mailbox). Installed here when missing and
# possible (root with apt-get); otherwise those tests skip with a reason and the rest runs.
PEERS := chromium:chromium spamassassin:spamassassin dovecot:dovecot-imapd
test: $(STAMP) vectors caniemail
	@missing=""; for peer in $(PEERS); do \
	  command -v "$${peer%%:*}" >/dev/null 2>&1 || test -x "/usr/sbin/$${peer%%:*}" || \
	    missing="$$missing $${peer#*:}"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	     { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; } \
	       >/dev/null 2>&1; \
	  then echo "installed$$missing for the tests that use them"; \
	  else echo "not installed:$$missing; the tests that need them will skip"; fi; fi
	$(BIN)/python -m pytest -q
	@if [ -n "$$DIGEST_TEST_DATABASE_URL" ]; then \
	  echo "the app, CLI and daemon tests again, on PostgreSQL ($$DIGEST_TEST_DATABASE_URL)"; \
	  DIGEST_TEST_SUITE_DB=postgresql $(BIN)/python -m pytest -q $(PG_SUITE); fi

# The inner loop: the suite without its long end-to-end tests (@pytest.mark.slow: real
# `digest run` daemons and preview servers, the installed wheel, Chromium, several processes at
# once). No chromium install and no PostgreSQL second pass.
test-fast: $(STAMP) vectors caniemail
	$(BIN)/python -m pytest -q -m "not slow"

# The suite with the calendar moved, under Debian's faketime: it starts the wall clock at each
# date and lets it run (FAKETIME_DONT_FAKE_MONOTONIC=1: the monotonic clock stays real). The
# install above runs first with the real clock (the package index's TLS refuses a clock years
# ahead); the suite itself downloads nothing. tests/faketime/sitecustomize.py works around
# libfaketime 0.9.10's time.sleep() bug (its docstring says which). Tests marked real_clock cannot
# run under faketime at all, for a reason of faketime's own given with each, and are left out.
TEST_DATES := '2027-06-15 12:00:00' '2029-02-28 23:30:00'
test-dates: $(STAMP) vectors caniemail
	@command -v faketime >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	     { apt-get update -qq && apt-get install -y -qq faketime; } >/dev/null 2>&1; \
	  then echo "installed faketime"; \
	  else echo "test-dates needs Debian's faketime (apt-get install faketime)"; exit 2; fi; }
	@failed=""; for when in $(TEST_DATES); do \
	  echo "the suite at $$when (faketime)"; \
	  FAKETIME_DONT_FAKE_MONOTONIC=1 PYTHONPATH="$(CURDIR)/tests/faketime$${PYTHONPATH:+:$$PYTHONPATH}" \
	    faketime "$$when" $(BIN)/python -m pytest -q -m "not real_clock" || failed="$$failed '$$when'"; \
	done; \
	if [ -n "$$failed" ]; then echo "make test-dates: the suite failed at$$failed"; exit 1; fi

lint: $(STAMP)
	$(BIN)/ruff check digest tests bench
	$(BIN)/mypy

check: lint test

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check httpx
	$(BIN)/python bench/run.py

# Mutation testing of the pure modules (rank, dedupe, outlets, polling, schedule, classify,
# neardup), each against its own tests: a table of mutants killed per module, exit 1 under 90%
# (tests/README.md).
# About 7 minutes on 2 cores; `make mutate MUTATE="rank polling"` runs some.
mutate: $(STAMP)
	nice -n 10 $(BIN)/python tests/mutate.py $(MUTATE)

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache examples/demo/preview \
	  examples/demo/outbox examples/demo/demo.db*
