# mlstack.platform: the developer's and the CI's entry points.
#   make demo        lab engine + images, lab hosts, site.yml on them
#   make demo-multi  site.yml over SSH on three lab hosts (inventories/lab_multi), verify, re-run
#   make demo-airgap the same from an offline controller on a network with no route out
#   make test        everything: venv, lab, lint, sanity, unit, integration, molecule
#   make test-quick  static checks and unit tests only
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := $(CURDIR)/.venv
BIN := $(VENV)/bin
COLLECTIONS := $(CURDIR)/.ansible/collections
COLLECTION_LINK := $(COLLECTIONS)/ansible_collections/mlstack/platform
SCENARIOS := $(sort $(notdir $(patsubst %/molecule.yml,%,$(wildcard molecule/*/molecule.yml))))
DEMO_HOSTS ?= 1
BENCH_SCALE ?= 1,4,8

export PATH := $(BIN):$(PATH)
export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS)
# Molecule and ansible-lint install "the local collection" into $ANSIBLE_HOME/collections
# unless a link there already points at the checkout. Keeping ANSIBLE_HOME in the checkout
# makes that place our link, so every tool uses the working tree, never a stale copy in
# ~/.ansible left by an earlier run.
export ANSIBLE_HOME := $(CURDIR)/.ansible
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help venv collection-link lab lab-down lint yamllint ansible-lint sanity unit \
        integration bundle-test e2e molecule molecule-and-e2e test test-quick test-lane-quick test-lane-tiers demo demo-multi demo-airgap demo-down build build-check bench-image-import bench-site bench-e2e bench-load bench-bundle ee clean $(addprefix molecule-,$(SCENARIOS))

help:
	@echo "make demo | demo-multi | demo-airgap | test | test-quick | e2e | lab | lab-down | build | molecule-<scenario>"
	@echo "scenarios: $(SCENARIOS)"

$(BIN)/molecule: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
	$(BIN)/pip install -q -r requirements.txt 2>&1 | grep -v '^WARNING: Location' || true
	$(BIN)/python -c 'import ansible, molecule, testinfra, docker' 
	touch $@

venv: $(BIN)/molecule

collection-link:
	@mkdir -p $(dir $(COLLECTION_LINK))
	@[ -L $(COLLECTION_LINK) ] || ln -sfn $(CURDIR) $(COLLECTION_LINK)

lab:
	tests/lab/lab.sh up

lab-down:
	tests/lab/lab.sh down

yamllint: venv
	$(BIN)/yamllint -s .

ansible-lint: venv collection-link
	$(BIN)/ansible-lint --profile production --offline

lint: yamllint ansible-lint

sanity: venv
	tests/sanity.sh

unit: venv
	tests/unit/run.sh

integration: venv lab collection-link
	tests/integration/run.sh

# Every scenario, MOLECULE_JOBS at a time (logs in .cache/molecule-logs/).
MOLECULE_JOBS ?= 2
molecule: venv lab collection-link
	MOLECULE_JOBS=$(MOLECULE_JOBS) BIN=$(BIN) tests/molecule_all.sh

$(addprefix molecule-,$(SCENARIOS)): molecule-%: venv lab collection-link
	$(BIN)/molecule test -s $*

test-quick: lint sanity unit

# The bundle tier: bundle.yml for the lab inventory from the lab's mirror, verified, damaged, delta, parts.
bundle-test: venv lab collection-link
	tests/bundle/run.sh

# End to end (tests/e2e/run.py): site.yml over SSH on lab_multi, then the air-gapped run
# with its egress counters; the hosts are removed after.
e2e: venv lab collection-link
	$(BIN)/python tests/e2e/run.py all --down

# The molecule scenarios and the end-to-end tiers share one pool of MOLECULE_JOBS jobs
# (tests/molecule_all.sh --with-e2e): two heavy jobs at a time on these 2-core machines;
# the execution-environment build (make ee) is one job of that pool too.
molecule-and-e2e: venv lab collection-link
	MOLECULE_JOBS=$(MOLECULE_JOBS) BIN=$(BIN) tests/molecule_all.sh --with-e2e

# make test: the quick checks (lint, sanity, unit, build-check: one process each, mostly one
# core) in one lane beside the integration and bundle tiers in another (two cores on these
# machines), each lane in order; then the molecule/e2e pool. Each lane's output is printed
# together when it ends (--output-sync).
test: venv lab collection-link
	$(MAKE) --no-print-directory -j2 --output-sync=recurse test-lane-quick test-lane-tiers
	$(MAKE) --no-print-directory molecule-and-e2e

test-lane-quick: venv collection-link
	@start=$$(date +%s); \
	$(MAKE) --no-print-directory -j1 test-quick build-check \
	  && echo "=== lane lint, sanity, unit, build-check: passed in $$(( $$(date +%s) - start )) s"

test-lane-tiers: venv lab collection-link
	@start=$$(date +%s); \
	$(MAKE) --no-print-directory -j1 integration bundle-test \
	  && echo "=== lane integration, bundle tier: passed in $$(( $$(date +%s) - start )) s"

# Figures, not assertions: prints module vs `docker load -i` / `sha256sum` (docs/performance.md).
bench-image-import: venv lab collection-link
	$(BIN)/python benchmarks/image_import.py

# Figures: the lab site first vs no-op run; 1, 4, 8 hosts with the controller's CPU per host-task (removes the lab hosts after).
bench-site: venv lab collection-link
	$(BIN)/python benchmarks/site_converge.py --scale $(BENCH_SCALE)

# Figures: the end-to-end tiers side by side (lab_multi over SSH and air-gapped; removes the hosts after).
bench-e2e: venv lab collection-link
	$(BIN)/python benchmarks/site_converge.py --e2e

# Figures: Label Studio, the registry and S3 under load from lab hosts 2..4 against host1
# (hosts 1..4 up and host1 converged as make demo does; benchmarks/load.py says how).
bench-load: venv lab collection-link
	@mkdir -p .cache/bench
	$(BIN)/python benchmarks/load.py run --json .cache/bench/load.json

# Figures: bundle size vs unique contents and vs one docker save per image, re-run, delta, verify.
bench-bundle: venv lab collection-link
	$(BIN)/python benchmarks/bundle.py

demo: venv lab collection-link
	tests/lab/lab.sh bundle
	tests/lab/lab.sh hosts-up $(DEMO_HOSTS)
	$(BIN)/ansible-playbook -i inventories/lab/hosts.yml playbooks/site.yml
	$(BIN)/ansible-playbook -i inventories/lab/hosts.yml playbooks/verify.yml

demo-multi: venv lab collection-link
	$(BIN)/python tests/e2e/run.py multi

demo-airgap: venv lab collection-link
	$(BIN)/python tests/e2e/run.py airgap

demo-down:
	tests/lab/lab.sh hosts-down
	tests/lab/lab.sh multi-down

# The execution environment: ansible-builder 3 from the lab's Debian image, offline;
# checked with ansible-doc and a syntax check of site.yml inside it (docs/execution-environment.md).
ee: venv lab collection-link
	tests/ee/build.sh

build: venv
	$(BIN)/ansible-galaxy collection build --force --output-path build/

build-check: venv
	tests/build_check.sh

clean:
	rm -rf .ansible build tests/output .pytest_cache
