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

.PHONY: install data train eval compare results test lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

data: $(STAMP)
	$(PY) -m solvers --config $(CONFIG)

train: $(STAMP)
	@echo "make train: EXP=$(EXP) MODEL=$(MODEL) PROFILE=$(PROFILE)"
	$(PY) -m solvers --config $(CONFIG)
	$(PY) -m pimrl_jax.main --config $(CONFIG) --workdir $(RUN)/$(MODEL) --config.model.name=$(MODEL)

eval: $(STAMP)
	$(PY) -m pimrl_jax.main --mode eval --config $(CONFIG) --workdir $(RUN)/$(MODEL) --config.model.name=$(MODEL)

compare: $(STAMP)
	$(PY) -m solvers --config $(CONFIG)
	$(PY) -m pimrl_jax.compare --config $(CONFIG) --workdir $(RUN)

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
