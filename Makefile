# Settle: the two set-up commands are `make demo` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TYPECHECK := build/typecheck

.PHONY: install demo test lint typecheck pytest clean

install: $(STAMP)

# The venv is rebuilt when the pinned constraints or the project metadata change.
$(STAMP): pyproject.toml deploy/constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c deploy/constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: install
	$(BIN)/settle demo

test: lint typecheck pytest

lint: install
	$(BIN)/ruff check .

# mypy resolves `settle.engine` etc. through a tree of links that mirrors the package mapping
# of pyproject.toml (mypy cannot see setuptools' editable import hook).
typecheck: install
	@mkdir -p $(TYPECHECK)/settle
	@for p in engine cluster api; do ln -sfn ../../../$$p $(TYPECHECK)/settle/$$p; done
	MYPYPATH=$(TYPECHECK) $(BIN)/mypy -p settle.engine -p settle.cluster -p settle.api

pytest: install
	$(BIN)/pytest -n auto

clean:
	rm -rf $(VENV) build .mypy_cache .ruff_cache .pytest_cache .hypothesis

# Benchmarks (never part of `make test`; see docs/performance.md): every suite (references, e2e,
# stages, scaling) on books of 1,000,000 and 5,000,000 members, generated once under
# benchmarks/data/ (book-<members>-s20250101-feed/, reused while its .complete marker exists);
# figures are appended to benchmarks/results/results.jsonl.
#   make bench BENCH_10M=1                         also 10,000,000 members (and their growth)
#   make bench BENCH_ARGS="e2e --members 200000"   any `python -m benchmarks` arguments instead
BENCH_ARGS ?= --members 1000000 --members 5000000 $(if $(BENCH_10M),--members 10000000)
.PHONY: bench
bench: install
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

# ---- a real multi-process Ray cluster on this machine (docs/deploy.md, "Cluster mode on one machine")
# One head (no CPUs: tasks run only on workers) and two worker nodes, each its own raylet, on
# 127.0.0.1 with fixed ports (GCS 6390, client 10011, dashboard 8275, agents 52380-52382, worker
# processes 20000-20999); Ray's files under RAY_CLUSTER_TMP (short: Ray's socket paths are
# limited). `make cluster-down` stops only the processes of this cluster, by pid: those whose
# command line names RAY_CLUSTER_TMP's sessions, and the Ray client server of RAY_CLUSTER_PORT;
# never other Ray instances on the machine (`ray stop` would stop them all).
RAY_CLUSTER_TMP ?= /tmp/settle-ray-$(RAY_CLUSTER_PORT)
RAY_CLUSTER_PORT ?= 6390
RAY_CLUSTER_CLIENT_PORT ?= 10011
RAY_CLUSTER_DASHBOARD_PORT ?= 8275
RAY_CLUSTER_WORKER_CPUS ?= 1
RAY_CLUSTER_OBJECT_STORE_BYTES ?= 200000000
# Ray 2.60 authenticates with a token: every node and client of this cluster uses the one written
# to RAY_CLUSTER_TMP/auth_token (exported to cluster-up only, and printed for the clients).
RAY_AUTH_TOKEN_PATH = $(RAY_CLUSTER_TMP)/auth_token
cluster-up: export RAY_AUTH_MODE := token
cluster-up: export RAY_AUTH_TOKEN_PATH := $(RAY_AUTH_TOKEN_PATH)
RAY_CLUSTER_COMMON = --node-ip-address=127.0.0.1 --disable-usage-stats \
	--object-store-memory=$(RAY_CLUSTER_OBJECT_STORE_BYTES)

.PHONY: cluster-up cluster-down

cluster-up: install
	@mkdir -p $(RAY_CLUSTER_TMP) && chmod 700 $(RAY_CLUSTER_TMP)
	@test -s $(RAY_AUTH_TOKEN_PATH) || (umask 077 && $(BIN)/python -c \
		"import secrets; print(secrets.token_hex(32), end='')" > $(RAY_AUTH_TOKEN_PATH))
	$(BIN)/ray start --head $(RAY_CLUSTER_COMMON) --temp-dir=$(RAY_CLUSTER_TMP) \
		--port=$(RAY_CLUSTER_PORT) --ray-client-server-port=$(RAY_CLUSTER_CLIENT_PORT) \
		--dashboard-host=127.0.0.1 --dashboard-port=$(RAY_CLUSTER_DASHBOARD_PORT) \
		--dashboard-agent-listen-port=52380 --min-worker-port=20000 --max-worker-port=20199 --num-cpus=0
	@for i in 1 2; do \
		$(BIN)/ray start $(RAY_CLUSTER_COMMON) --address=127.0.0.1:$(RAY_CLUSTER_PORT) \
			--dashboard-agent-listen-port=$$((52380 + i)) --num-cpus=$(RAY_CLUSTER_WORKER_CPUS) \
			--min-worker-port=$$((20000 + 400 * i - 200)) --max-worker-port=$$((20000 + 400 * i + 199)) \
			|| exit 1; \
	done
	@echo
	@echo "Ray cluster up: 1 head + 2 worker nodes. Use it with:"
	@echo "  export RAY_ADDRESS=127.0.0.1:$(RAY_CLUSTER_PORT) RAY_AUTH_MODE=token RAY_AUTH_TOKEN_PATH=$(RAY_AUTH_TOKEN_PATH)"
	@echo "  (Ray client: ray://127.0.0.1:$(RAY_CLUSTER_CLIENT_PORT); dashboard: http://127.0.0.1:$(RAY_CLUSTER_DASHBOARD_PORT))"

cluster-down:
	@pids=$$( (pgrep -u "$$(id -u)" -f -- "$(RAY_CLUSTER_TMP)/[s]ession_"; \
		pgrep -u "$$(id -u)" -f -- "ray[.]util[.]client[.]server --address=[^ ]*:$(RAY_CLUSTER_PORT) ") \
		| sort -u | tr '\n' ' '); \
	if [ -z "$$pids" ]; then echo "no Ray cluster under $(RAY_CLUSTER_TMP)"; exit 0; fi; \
	echo "stopping Ray processes $$pids"; kill $$pids 2>/dev/null || true; \
	for _ in $$(seq 50); do alive=$$(ps -o pid= -p "$$(echo $$pids | tr ' ' ',')" 2>/dev/null); \
		[ -z "$$alive" ] && break; sleep 0.2; done; \
	[ -n "$$alive" ] && kill -9 $$alive 2>/dev/null; rm -rf $(RAY_CLUSTER_TMP); echo "Ray cluster down"
