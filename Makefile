# pimrl-jax front door. Every target creates .venv and installs the project when it is missing.
EXP     ?= kdv
PROFILE ?= quick
MODEL   ?= pimrl
PYTHON  ?= python3
VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
CONFIG  := experiments/$(EXP).py:$(PROFILE)
# The experiments are the config files in experiments/ (common.py holds their shared shape).
EXPERIMENTS := $(sort $(basename $(notdir $(filter-out %/common.py %/__init__.py,$(wildcard experiments/*.py)))))
ifeq ($(filter $(EXP),$(EXPERIMENTS)),)
$(error unknown EXP '$(EXP)'; valid experiments: $(EXPERIMENTS))
endif
RUN     := runs/$(EXP)-$(PROFILE)
# EXP=custom: your own data, a file made by python -m solvers.ingest (docs/own-data.md). Its data
# config is read from the file; KNOWN sets the micro module's known terms (default none).
DATA    ?=
KNOWN   ?=
MAKE_DATA = $(PY) -m solvers --config $(CONFIG)
FLAGS   :=
ifeq ($(EXP),custom)
ifeq ($(strip $(DATA)),)
$(error EXP=custom needs DATA=path/to/file.h5, a dataset made by python -m solvers.ingest (see docs/own-data.md))
endif
CONFIG  := experiments/custom.py:$(DATA):$(PROFILE)
RUN     := runs/custom-$(basename $(notdir $(DATA)))-$(PROFILE)
MAKE_DATA = $(PY) -m solvers.ingest --check $(DATA)
ifneq ($(strip $(KNOWN)),)
FLAGS   := --config.model.micro.known_terms=$(KNOWN)
endif
endif

.PHONY: install data train eval compare results forecast study test lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

data: $(STAMP)
	$(MAKE_DATA)

train: $(STAMP)
	@echo "make train: EXP=$(EXP) MODEL=$(MODEL) PROFILE=$(PROFILE)"
	$(MAKE_DATA)
	$(PY) -m pimrl_jax.main --config $(CONFIG) --workdir $(RUN)/$(MODEL) --config.model.name=$(MODEL) $(FLAGS)

eval: $(STAMP)
	$(PY) -m pimrl_jax.main --mode eval --config $(CONFIG) --workdir $(RUN)/$(MODEL) --config.model.name=$(MODEL) $(FLAGS)

compare: $(STAMP)
	$(MAKE_DATA)
	$(PY) -m pimrl_jax.compare --config $(CONFIG) --workdir $(RUN) $(FLAGS)

# All five systems (or EXP=<system>), three seeds each, resumable; rewrites docs/results.md.
# TUNE=1: the tuning runs instead (every candidate of pimrl_jax.tuning on seed 0, validation).
# JOBS=n: training runs side by side (default one per CPU core; JOBS=1 on a single accelerator).
results: $(STAMP)
	$(PY) -m pimrl_jax.results --exp $(if $(filter command line,$(origin EXP)),$(EXP),all) --profile $(PROFILE) $(if $(TUNE),--tune) $(if $(JOBS),--jobs $(JOBS))

# Forecast skill against lead time since the last burst, of the trained runs in $(RUN)/seed*/.
SEEDS   ?= 0,1,2
forecast: $(STAMP)
	$(PY) -m pimrl_jax.forecast --exp $(EXP) --profile $(PROFILE) --seeds $(SEEDS)

# STUDY=forecast|noise|kn|noprior on EXP=<system> (default: the study's own systems), resumable;
# rewrites its section of docs/studies.md.
STUDY   ?=
study: $(STAMP)
	$(PY) -m pimrl_jax.studies --study "$(STUDY)" $(if $(filter command line,$(origin EXP)),--exp $(EXP)) --profile $(PROFILE) --seeds $(SEEDS)

test: $(STAMP)
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: $(STAMP)
	$(PY) benchmarks/solvers.py
	$(PY) benchmarks/models.py

clean:
	rm -rf runs .cache
