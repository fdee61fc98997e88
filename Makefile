# Entry points of the project; `make help` lists them. Every recipe runs with tools/env.sh.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
ENV := . tools/env.sh &&
PYTHON ?= python3
STACK ?= sandbox
PYTEST_ARGS ?=

VENV_STAMP := .venv/.installed
ENGINE_SOURCES := $(wildcard tools/pulumi-engine/go.* tools/pulumi-engine/build.sh) \
                  $(shell find tools/pulumi-engine/cmd -name '*.go')

.PHONY: help setup system-packages engine command-plugin acme-ca venv validate preview up down test test-offline test-go lint lock \
        clean sandbox-up sandbox-down pr-comment drift stacks actionlint new-region \
        policy-analyze audit repair pending examples fleet-preview fleet-up affected pr-comment-join \
        migrate-deploys

help: ## List every entry point
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

setup: system-packages venv engine command-plugin acme-ca ## Install everything (idempotent): packages, .venv, the Pulumi engine, pulumi-command's plugin, the sandbox's ACME CA

system-packages: ## Debian packages the sandbox needs (systemd-nspawn, debootstrap, ...)
	tools/install-system-packages.sh

venv: $(VENV_STAMP) ## The Python virtualenv with the pinned requirements

$(VENV_STAMP): requirements.txt
	[ -x .venv/bin/python ] || $(PYTHON) -m venv .venv
	.venv/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
	# The project's packages (stacks, roles, ...) importable from the venv, wherever it runs.
	.venv/bin/python -c 'import sysconfig,os; open(os.path.join(sysconfig.get_path("purelib"),"voicepop-project.pth"),"w").write(os.getcwd()+"\n")'
	touch $@

engine: ## The Pulumi engine built from Go modules (or the installed one of its version), cached outside the work tree
	tools/pulumi-engine/build.sh

acme-ca: ## The sandbox's ACME CA (pebble) built from its Go module, cached outside the work tree
	tools/acme-ca/build.sh

command-plugin: engine ## pulumi-command's provider plugin: installed, or built from ../shared/third_party (cached), or fetched
	$(ENV) tools/pulumi-command/setup.sh

validate: venv ## Check every Pulumi.*.yaml offline; lists all errors
	$(ENV) python -m stacks.spec.validate

preview: setup ## Real `pulumi preview` of STACK (default: sandbox) with the policy pack
	$(ENV) tools/stack-env.sh $(STACK) pulumi preview --diff --non-interactive $(POLICY_FLAGS)

policy-analyze: venv engine ## The policy pack over STACK's existing state (no program run)
	$(ENV) tools/stack-env.sh $(STACK) python -m policies.analyze $(STACK) $(POLICY_FLAGS)

BASE ?= origin/main
HEAD ?= HEAD
COMMENT ?= pr-comment.md
# The project's policy pack and its team config run with every preview and `up`; a team's own
# packs are added with POLICY_PACKS (and their configs, in order, with POLICY_PACK_CONFIGS).
POLICY_PACKS ?= policies
POLICY_PACK_CONFIGS ?= policies/config.json
POLICY_FLAGS = $(foreach pack,$(POLICY_PACKS),--policy-pack $(pack)) \
               $(foreach config,$(POLICY_PACK_CONFIGS),--policy-pack-config $(config))
pr-comment: venv engine ## PR comment for the stacks BASE...HEAD touches (or STACKS=; SKIP=) into COMMENT (SAVE=: the previews as JSON)
	$(ENV) python -m ops.preview comment $(if $(STACKS),--stacks $(STACKS),--base $(BASE) --head $(HEAD)) \
	  $(if $(SKIP),--skip $(SKIP)) $(if $(NO_HOSTS),--no-hosts) $(POLICY_FLAGS) --out $(COMMENT) \
	  $(if $(SAVE),--save $(SAVE))

SAVE ?=
pr-comment-join: venv ## One PR comment of the previews saved by `make pr-comment SAVE=` in PREVIEWS (a folder)
	$(ENV) python -m ops.preview join $(PREVIEWS) --out $(COMMENT)

affected: venv ## The stacks BASE...HEAD touches as a JSON list (SKIP= leaves some out), for CI matrices
	@$(ENV) python -m ops.preview affected $(BASE) $(HEAD) --matrix $(if $(SKIP),--skip $(SKIP))

# Fleet runs through the Automation API, WORKERS at a time (default: one per core), over every
# stack or STACKS=, minus SKIP=; JSON= also writes the results as JSON.
FLEET_FLAGS = $(if $(STACKS),--stacks $(STACKS)) $(if $(SKIP),--skip $(SKIP)) \
              $(if $(WORKERS),--workers $(WORKERS)) $(if $(JSON),--json $(JSON))
fleet-preview: venv engine ## Preview every stack (or STACKS=) at once with the policy pack; a table at the end
	$(ENV) python -m ops.fleet preview $(FLEET_FLAGS) $(POLICY_FLAGS)

fleet-up: venv engine ## Up every stack (or STACKS=): CANARY= PoPs first, then waves of WAVE_SIZE=; stops at a failed PoP
	$(ENV) python -m ops.fleet up $(FLEET_FLAGS) $(POLICY_FLAGS) \
	  $(if $(CANARY),--canary $(CANARY)) $(if $(WAVE_SIZE),--wave-size $(WAVE_SIZE)) \
	  $(if $(ALLOW_CAPACITY_LOSS),--allow-capacity-loss)

new-region: venv engine ## Scaffold, check, init and preview a PoP: POP= LOCATION= [SERVERS= LIKE= PREFIX= PEAK=]
	$(ENV) python -m ops.new_region --pop "$(POP)" --location "$(LOCATION)" \
	  $(if $(SERVERS),--servers $(SERVERS)) $(if $(LIKE),--like $(LIKE)) \
	  $(if $(PEAK),--peak-calls $(PEAK)) \
	  $(foreach p,$(PREFIX),--prefix $(p)) $(if $(INSTANCE_TYPE),--instance-type $(INSTANCE_TYPE)) \
	  $(foreach pack,$(POLICY_PACKS),--policy-pack $(pack)) \
	  $(foreach config,$(POLICY_PACK_CONFIGS),--policy-pack-config $(config))

drift: venv engine ## Drift of STACK: provider and Route 53 (refresh), hosts (roles' plan), verification; exit 0/2/1
	$(ENV) python -m ops.drift $(STACK) $(if $(OUT),--out $(OUT)) $(if $(NO_HOSTS),--no-hosts)

repair: venv engine ## Repair STACK's drift through pulumi up: drifted hosts deployed again (waves, gate), then drift again; exit 0/2/1
	$(ENV) python -m ops.repair $(STACK) $(foreach pack,$(POLICY_PACKS),--policy-pack $(pack)) \
	  $(foreach config,$(POLICY_PACK_CONFIGS),--policy-pack-config $(config))

migrate-deploys: venv engine ## One-time: STACK's host deploys moved off the old vpdeploy plugin (then make up / pulumi up)
	$(ENV) tools/stack-env.sh $(STACK) python -m ops.migrate_deploys $(STACK) $(if $(DRY_RUN),--dry-run)

scorecard: venv ## Provider scorecard from the sandbox watch's Prometheus (or PROMETHEUS=) over LAST= (default 24h) into OUT
	$(ENV) python -m ops.scorecard --prometheus $(or $(PROMETHEUS),http://127.0.0.1:9190) \
	  --last $(or $(LAST),24h) --inventory inventories/sandbox.json \
	  --drills bench/results/reconnect.json $(if $(OUT),--out $(OUT))

audit: venv ## Host audit of STACK's servers (or INVENTORY=): JUnit, JSON and HTML in OUT (audit-report)
	$(ENV) python -m audit $(if $(INVENTORY),--inventory $(INVENTORY),--stack $(STACK)) \
	  $(if $(OUT),--out $(OUT))

# The second sandbox PoP (sandbox2) first: the first's prober calls it (its probing.peers).
up: setup validate ## The main job on the embedded default: the sandbox PoPs delivered, deployed, verified
	started=$$(date +%s); $(ENV) python -m sandbox up \
	  && tools/stack-env.sh sandbox2 pulumi up --yes --non-interactive $(POLICY_FLAGS) \
	  && tools/stack-env.sh sandbox2 python -m ops.inventories sandbox2 \
	  && tools/stack-env.sh sandbox pulumi up --yes --non-interactive $(POLICY_FLAGS) \
	  && tools/stack-env.sh sandbox python -m ops.inventories sandbox \
	  && tools/stack-env.sh sandbox2 python -m sandbox.summary --stack sandbox2 \
	  && tools/stack-env.sh sandbox python -m sandbox.summary --started $$started \
	  && $(ENV) python -m sandbox.watch start

down: setup ## Destroy the sandbox PoPs and stop the sandbox, leaving nothing running
	$(ENV) python -m sandbox up
	$(ENV) tools/stack-env.sh sandbox pulumi destroy --yes --non-interactive
	$(ENV) tools/stack-env.sh sandbox2 pulumi destroy --yes --non-interactive
	$(ENV) python -m sandbox down
	rm -f inventories/sandbox.py inventories/sandbox.yml inventories/sandbox.json \
	  inventories/sandbox2.py inventories/sandbox2.yml inventories/sandbox2.json

test: setup lint test-go ## The whole test suite, as CI runs it: two workers, each with sandboxes of its own
	$(ENV) python -m pytest -n 2 --dist loadscope --durations=25 $(PYTEST_ARGS)

test-go: ## go test of the project's Go code (the engine's Python language host)
	cd tools/pulumi-engine && GOFLAGS=-mod=mod CGO_ENABLED=0 \
	  GOPROXY=$$(go env GOPROXY | sed -e 's/,direct//g' -e 's/|direct//g') go test ./cmd/...

test-offline: venv ## Only the tests that need nothing: no root, no bridge, no engine (two workers)
	$(ENV) python -m pytest -m offline -n 2 $(PYTEST_ARGS)

examples: up ## docs/examples/ regenerated from one sandbox run (after make up): comment, drift, repair, audit, calls, fleet
	$(ENV) python -m sandbox.examples

lint: venv actionlint ## ruff, mypy, the layout's import contracts and actionlint (the CI workflows)
	$(ENV) ruff check . && ruff format --check . && mypy && lint-imports --no-cache && actionlint

actionlint: ## actionlint built from its Go module, cached outside the work tree
	tools/actionlint/build.sh

pending: venv ## The stacks not yet at HEAD (changed since the commit each last deployed) as JSON, for up's matrix
	@tools/pulumi-engine/build.sh >&2  # the engine reads each stack's history; stdout is the list
	@$(ENV) python -m ops.fleet.pending $(if $(SKIP),--skip $(SKIP))

stacks: venv ## The stacks of this repository as a JSON list (SKIP= leaves some out), for CI matrices
	@$(ENV) python -m ops.preview stacks $(if $(SKIP),--skip $(SKIP))

lock: ## Resolve requirements.in into the pinned requirements.txt, keeping its pins (UPGRADE=1: re-resolve all)
	rm -rf .tools/lock-venv && $(PYTHON) -m venv .tools/lock-venv
	# the pins of today, less the direct ones (requirements.in may have moved them)
	$(PYTHON) -c 'import re; direct = {re.split(r"[=<>\[ ]", l)[0].lower() for l in open("requirements.in") if l.strip() and l[0] != "#"}; print("".join(l for l in open("requirements.txt") if l[0] != "#" and l.split("==")[0].lower() not in direct), end="")' > .tools/lock-constraints.txt
	.tools/lock-venv/bin/pip install --quiet --disable-pip-version-check -r requirements.in \
	  $(if $(UPGRADE),,-c .tools/lock-constraints.txt)
	{ echo '# Generated by `make lock` from requirements.in; do not edit by hand.'; \
	  .tools/lock-venv/bin/pip freeze; } > requirements.txt

sandbox-up: setup ## Start the sandbox: provider stand-in, package proxy, host network
	$(ENV) python -m sandbox up

sandbox-down: venv ## Stop the sandbox and everything it started; leaves nothing running
	$(ENV) python -m sandbox down

clean: ## Remove what setup installed in the work tree (the engine cache stays)
	rm -rf .venv .tools
