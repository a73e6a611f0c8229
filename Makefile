# The two commands a newcomer needs are `make demo` and `make test`; everything else here is a
# shortcut into one layer of `make test`. Each target sets up what it needs by itself.
SHELL := /bin/bash
HARNESS := tests/harness
SCENARIO ?= default debian13 dbtls cluster

.PHONY: help demo test test-lint test-sanity test-unit test-integration test-tarball test-molecule \
	benchmark benchmark-sip build venv images clean

help:
	@echo "make demo              converge a Debian 12 container with the example inventory and register every subscriber"
	@echo "make test              every test layer; exit 0 only when all passed"
	@echo "make test-lint         ruff, yamllint, ansible-lint (production profile), antsibull-changelog lint"
	@echo "make test-sanity       ansible-test sanity"
	@echo "make test-unit         pytest unit tests"
	@echo "make test-integration  module integration tests against a real MariaDB"
	@echo "make test-tarball      the demo converged from the built tarball installed with ansible-galaxy"
	@echo "make test-molecule     molecule scenarios (SCENARIO='default debian13 dbtls cluster'; KEEP=1 keeps instances)"
	@echo "make benchmark         module, playbook and role benchmarks of the tenant sync (10,000 and 100,000 subscribers)"
	@echo "make benchmark-sip     REGISTER/s and calls/s of this kamailio.cfg next to Debian's stock one"
	@echo "make build             collection tarball"
	@echo "make clean             remove test containers, the venv and caches"

demo:
	@bash $(HARNESS)/demo.sh

test:
	@bash $(HARNESS)/run-tests.sh

test-lint:
	@LAYERS=lint bash $(HARNESS)/run-tests.sh

test-sanity:
	@LAYERS=sanity bash $(HARNESS)/run-tests.sh

test-unit:
	@LAYERS=unit bash $(HARNESS)/run-tests.sh

test-integration:
	@LAYERS=integration bash $(HARNESS)/run-tests.sh

test-tarball:
	@LAYERS=tarball bash $(HARNESS)/run-tests.sh

test-molecule:
	@LAYERS=molecule SCENARIOS="$(SCENARIO)" bash $(HARNESS)/run-tests.sh

benchmark:
	@bash $(HARNESS)/venv.sh && bash $(HARNESS)/collection.sh >/dev/null \
		&& .venv/bin/python tests/benchmarks/module_sync.py \
		&& .venv/bin/python tests/benchmarks/tenant_sync.py \
		&& bash $(HARNESS)/images.sh debian12 \
		&& .venv/bin/python tests/benchmarks/tenant_role.py

benchmark-sip:
	@bash $(HARNESS)/venv.sh && bash $(HARNESS)/collection.sh >/dev/null \
		&& bash $(HARNESS)/images.sh $${BENCH_RELEASE:-debian12} \
		&& .venv/bin/python tests/benchmarks/sip_throughput.py

build:
	@bash $(HARNESS)/venv.sh && .venv/bin/ansible-galaxy collection build --force .

venv:
	@bash $(HARNESS)/venv.sh

images:
	@bash $(HARNESS)/images.sh

clean:
	@bash $(HARNESS)/cleanup.sh
	rm -rf .venv .cache .ansible tests/output sipstack-kamailio-*.tar.gz
