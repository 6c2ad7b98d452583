# wess-deploy: `make deploy` runs the main job on the default zoo model, `make test` runs the test suite.
# Both set everything up first: a .venv with the pinned Python packages and the Debian packages below.
VENV        ?= .venv
PYTHON      ?= python3
PY          := $(VENV)/bin/python
WESS        := $(VENV)/bin/wess
STAMP       := $(VENV)/.installed
BUILD       := $(CURDIR)/build
MODEL       ?= zoo:mobilenet_v1
APT_PACKAGES := gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm clang libclang-rt-14-dev
PYTEST_ARGS ?=
# Test processes (pytest-xdist, one file per process at a time): the cores, at most 4 (each holds TensorFlow).
TEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 1); [ $$n -gt 4 ] && n=4; echo $$n)
PYTEST_PARALLEL := -n $(TEST_WORKERS) --dist loadfile
FIRMWARE_TARGET ?= cortex-m3
FUZZ_SECONDS ?= 180
FUZZ_CORPUS_ONLY ?=
CI_FUZZ_SECONDS ?= 10
FIRMWARE_INPUTS ?= 10
FIRMWARE_MODEL  := build/deploy/$(patsubst zoo:%,%,$(MODEL))/model.tflite
FIRMWARE_OUT    := build/firmware/$(patsubst zoo:%,%,$(MODEL))/$(FIRMWARE_TARGET)

.PHONY: setup apt lib deploy test test-sanitized test-wheel test-all bench fuzz firmware flash clean

setup: $(STAMP) apt

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,sweep]'
	@touch $(STAMP)

apt:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ]; then \
	    echo "Debian packages missing:$$missing"; \
	    echo "Install them with: sudo apt-get update && sudo apt-get install -y$$missing"; exit 1; \
	  fi; \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	fi

lib:
	$(MAKE) -C firmware_ref BUILD_DIR=$(BUILD)

deploy: setup lib
	$(WESS) deploy $(MODEL) --force

# The fast suite, then the C-facing tests again against the AddressSanitizer + UBSan build of the library, then the
# wheel installed alone into a fresh venv running the CLI from a temporary directory, beside (in parallel: both use
# one core) a short fuzz pass (CI_FUZZ_SECONDS per harness) from the committed corpus.
test: setup lib
	$(PY) -m pytest -q -m "not slow" $(PYTEST_PARALLEL) $(PYTEST_ARGS)
	PYTHON=$(PY) tools/run_sanitized_tests.sh $(PYTEST_PARALLEL)
	PYTHON=$(PY) tools/wheel_smoke.sh & wheel=$$!; \
	$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=$(CI_FUZZ_SECONDS) FUZZ_CORPUS_ONLY=1; fuzz=$$?; \
	wait $$wheel && test $$fuzz -eq 0

test-sanitized: setup
	PYTHON=$(PY) tools/run_sanitized_tests.sh $(PYTEST_ARGS)

# The wheel alone in a fresh venv (tools/wheel_smoke.sh; part of `make test`).
test-wheel: setup
	PYTHON=$(PY) tools/wheel_smoke.sh

test-all: setup lib
	$(PY) -m pytest -q $(PYTEST_PARALLEL) $(PYTEST_ARGS)

bench: setup lib
	$(PY) tools/bench.py
	$(PY) tools/firmware_bench.py

# Each fuzz harness (C blob validator/runner, Python flatbuffer/metadata/compact readers) for FUZZ_SECONDS, one at
# a time; FUZZ_CORPUS_ONLY=1 starts from the committed corpus only. docs/fuzzing.md.
fuzz: setup
	FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_CORPUS_ONLY=$(FUZZ_CORPUS_ONLY) $(PY) tools/fuzz.py run

# The deployed model as Cortex-M firmware (FIRMWARE_TARGET: cortex-m3, -m4, -m7, -m33, -m55), run in QEMU and
# compared byte for byte with the host C reference; docs/firmware.md.
firmware: setup lib
	@test -f $(FIRMWARE_MODEL) || $(WESS) deploy $(MODEL) --force
	$(WESS) firmware $(FIRMWARE_MODEL) --target $(FIRMWARE_TARGET) --out $(FIRMWARE_OUT) --run --inputs $(FIRMWARE_INPUTS) --force

# Writes the image, then flashes it with pyOCD when installed and a probe is attached; otherwise explains and fails.
flash: firmware
	$(PY) tools/flash.py $(FIRMWARE_OUT)/firmware.hex $(if $(PYOCD_TARGET),--pyocd-target $(PYOCD_TARGET))

clean:
	rm -rf build .pytest_cache
