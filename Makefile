# Two commands for a newcomer: `make run` and `make test`. Everything else is a
# step they call. Python 3.10 is found by scripts/find-python.sh (Rasa 3.6 needs it).
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV     := .venv
PY       := $(VENV)/bin/python
RASA     := $(VENV)/bin/rasa
STAMP    := $(VENV)/.installed
MODEL    := models/current.tar.gz
NLU_DATA := $(sort $(wildcard data/*.yml data/nlu/*.yml))
export RASA_TELEMETRY_ENABLED := false
export TF_CPP_MIN_LOG_LEVEL := 2
export SQLALCHEMY_SILENCE_UBER_WARNING := 1
export PYTHONPATH := $(CURDIR)
# Set-up output (pip, npm, training) goes to this log; the terminal gets one line a
# step, and the log's tail when a step fails. `make ... VERBOSE=1` shows it all.
SETUP_LOG := var/log/setup.log
PIP_INSTALL = $(PY) -m pip install --quiet --upgrade "pip==26.3" "setuptools==70.3.0" "wheel==0.45.1" && $(PY) -m pip install --quiet -r requirements.txt -c constraints.txt
ifeq ($(VERBOSE),)
quietly = @mkdir -p var/log; echo "  $(1)"; ( $(2) ) >> $(SETUP_LOG) 2>&1 || { \
  echo "  $(1) failed; the end of $(SETUP_LOG):"; tail -n 25 $(SETUP_LOG); exit 1; }
else
quietly = $(2)
endif
# credentials.yml reads these; empty (the default) switches the WhatsApp channel off.
WHATSAPP_VARS := WHATSAPP_VERIFY_TOKEN WHATSAPP_APP_SECRET WHATSAPP_ACCESS_TOKEN WHATSAPP_PHONE_NUMBER_ID WHATSAPP_API_URL
$(foreach var,$(WHATSAPP_VARS),$(eval export $(var) ?=))

.PHONY: help install run run-production nginx bench profile shell train migrate purge reencrypt key-status staff-admin staff-user audit-verify lint format types validate test test-unit nlu-report nlu-compare test-nlu test-conversations test-e2e test-web web-install browser clean

help:
	@echo "make run    - set up, train when needed and start the bot (http://localhost:5005)"
	@echo "make test   - every test: data validation, unit, conversation and end-to-end"
	@echo "make run-production - the production topology on this machine: nginx, 2 Rasa and"
	@echo "             2 action servers, workers, PostgreSQL and Redis (README, Production topology)"
	@echo "make bench  - this bot beside a stock rasa init bot: latency, throughput, memory"
	@echo "             (results/bench.json, results/bench.png); make profile adds py-spy"
	@echo "make shell  - talk to the bot in the terminal (rasa shell)"
	@echo "make train  - train the model"
	@echo "make lint / make types / make format - ruff and mypy (run first by make test)"
	@echo "make purge  - one pass of the retention job; make reencrypt - after a key rotation"
	@echo "make staff-admin - the console's first administrator; make staff-user EMAIL= ROLE= [AREA=]"
	@echo "make nlu-report - score the NLU on the held-out test set (results/nlu/)"
	@echo "make nlu-compare - score every candidate pipeline on the same test set"
	@echo "make export-conversations [OUT=dir] - redacted conversations for the trainers (exports/)"
	@echo "make conversation-report - registration funnel, fallback rate, misunderstood messages"

$(STAMP): requirements.txt constraints.txt scripts/find-python.sh
	@python=$$(scripts/find-python.sh) || exit 1; \
	if [ ! -x $(PY) ] || ! $(PY) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))'; then \
	  rm -rf $(VENV); echo "  creating $(VENV) with $$python"; "$$python" -m venv $(VENV) || exit 1; \
	fi
	$(call quietly,installing the pinned Python packages (minutes the first time),$(PIP_INSTALL))
	@touch $@

install: $(STAMP)

# The web page's chat widget (rasa-webchat from npm), served by the Rasa server.
WEB_DEPS := web/node_modules/.package-lock.json
$(WEB_DEPS): web/package.json web/package-lock.json
	$(call quietly,installing the web widget from npm,cd web && npm ci --ignore-scripts --no-audit --no-fund)
	@touch $@

web-install: $(WEB_DEPS)

# Debian's Chromium and its driver, for the browser tests (never a downloaded browser).
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  (apt-get update -qq && apt-get install -y -qq chromium chromium-driver > /dev/null)

# Debian's nginx, in front of the production topology (never a downloaded build).
nginx:
	@command -v nginx >/dev/null || test -x /usr/sbin/nginx || \
	  (apt-get update -qq && apt-get install -y -qq nginx-light > /dev/null)

data/nlu/lookups.yml: buzon/data/dpa.csv buzon/data/dpa_aliases.csv buzon/territory.py scripts/generate_lookups.py | $(STAMP)
	$(call quietly,generating the NLU lookup tables from the territorial list,$(PY) scripts/generate_lookups.py)

# Retrain only when the data, the domain or the config changed.
$(MODEL): $(STAMP) data/nlu/lookups.yml $(NLU_DATA) domain.yml config.yml
	@mkdir -p models
	$(call quietly,training the model (about a minute),$(RASA) train --fixed-model-name current --out models --quiet)
	@touch $@

train: $(MODEL)

migrate: $(STAMP)
	@umask 077; $(PY) -c 'from buzon import db, settings; db.migrate(settings.load().database_url)'

# One pass of the retention job: idle conversations, evidence of registrations that
# never happened, old mail files (make run keeps one running).
ENDPOINTS ?= endpoints.yml
purge: $(STAMP)
	@umask 077; $(PY) -m persistence.retention --endpoints $(ENDPOINTS) --once

# After putting a new key in front of CASE_ENCRYPTION_KEY: move everything to it.
reencrypt: $(STAMP)
	@umask 077; $(PY) -m buzon.keys reencrypt && $(PY) -m persistence.keys reencrypt --endpoints $(ENDPOINTS)

# Staff accounts of the console: the first administrator (asks), or any account
# (make staff-user EMAIL=ana@iess.gob.ec ROLE=analista AREA=salud; the password from
# STAFF_PASSWORD or standard input). Roles: analista investigador custodio supervisor
# administrador auditor; areas: the keys of buzon/data/routing.yml, comma-separated.
comma := ,
staff-admin: $(STAMP) migrate
	@$(PY) -m buzon.commands staff-admin

staff-user: $(STAMP) migrate
	@test -n "$(EMAIL)" -a -n "$(ROLE)" || { echo "usage: make staff-user EMAIL=... ROLE=... [AREA=area1,area2]"; exit 2; }
	@$(PY) -m buzon.commands staff-user "$(EMAIL)" "$(ROLE)" $(subst $(comma), ,$(AREA))

audit-verify: $(STAMP)
	@$(PY) -m buzon.commands audit-verify

key-status: $(STAMP)
	@$(PY) -m buzon.keys status && $(PY) -m persistence.keys status --endpoints $(ENDPOINTS)

validate: $(STAMP) data/nlu/lookups.yml
	$(PY) scripts/validate_data.py

# ruff (lint and format) on everything, mypy strict on the domain package (pyproject.toml).
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

types: $(STAMP)
	$(VENV)/bin/mypy

run: $(MODEL) migrate $(WEB_DEPS)
	@scripts/run.sh

# nginx, two Rasa servers and two action servers, the workers and the console, on the
# local PostgreSQL and Redis (or those the environment names); scripts/run-production.sh.
run-production: $(MODEL) $(WEB_DEPS) nginx
	@scripts/run-production.sh

shell: $(MODEL) migrate
	@scripts/run.sh shell

# A benchmark, not a test (minutes; it asserts nothing): the stock `rasa init` bot, this
# bot in one process, and the production topology, measured one after the other in the
# same virtual environment (scripts/bench.py). `make profile` also samples each server
# with py-spy during the load (results/profile-*.txt, the top lines in bench.json).
BENCH_ARGS ?=
bench: $(MODEL) $(WEB_DEPS) nginx
	$(PY) scripts/bench.py $(BENCH_ARGS)

PY_SPY := $(VENV)/bin/py-spy
$(PY_SPY): | $(STAMP)
	$(call quietly,installing py-spy (a sampling profiler),$(PY) -m pip install --quiet "py-spy==0.4.0")

profile: $(MODEL) $(WEB_DEPS) nginx $(PY_SPY)
	$(PY) scripts/bench.py --profile $(BENCH_ARGS)

test-unit: $(STAMP) data/nlu/lookups.yml
	$(PY) -m pytest -q tests/unit tests/actions buzon actions persistence channels nlu_components console

test-conversations: $(MODEL)
	$(RASA) test core --model $(MODEL) --stories tests/conversations --out results/conversations --fail-on-prediction-errors

test-e2e: $(MODEL) nginx
	$(PY) -m pytest -q tests/e2e

test-web: $(MODEL) $(WEB_DEPS) browser
	$(PY) -m pytest -q tests/web

# The NLU of the trained model scored on the held-out set (results/nlu/); its
# last line gives accuracy, macro-F1 and family accuracy.
nlu-report: $(MODEL)
	$(PY) scripts/nlu_report.py --model $(MODEL)

# The conversations in the tracker store (ENDPOINTS=endpoints.production.yml for the
# production one) for the trainers, every personal datum replaced by a placeholder:
# nlu.yml, test_stories.yml, annotation_queue.csv and report.md in $(OUT)/.
OUT ?= exports
.PHONY: export-conversations conversation-report
export-conversations: $(STAMP)
	@umask 077; $(PY) scripts/export_conversations.py --endpoints $(ENDPOINTS) --out $(OUT)

# The report alone (registration funnel, fallback rate, misunderstood messages),
# printed and written to $(OUT)/report.md.
conversation-report: $(STAMP)
	@umask 077; $(PY) scripts/export_conversations.py --endpoints $(ENDPOINTS) --out $(OUT) --report-only

# Every candidate pipeline on the held-out set, in one run (slow: DIET takes minutes).
nlu-compare: $(STAMP) data/nlu/lookups.yml
	$(PY) scripts/nlu_report.py --compare config.yml tests/nlu/pipelines/*.yml

# Fails when the report is below the minimums.
test-nlu: nlu-report
	$(PY) -m pytest -q -o addopts="" tests/nlu

test: lint types validate test-unit test-nlu test-conversations test-e2e test-web
	@echo "make test: all parts passed"

clean:
	rm -rf models results var/mail
