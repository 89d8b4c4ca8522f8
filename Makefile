# The two commands of the README: `make demo` and `make test`.
# Both create/reuse .venv; CPU set-ups pin torch==2.13.0 through constraints/cpu.txt
# (an unpinned torch pulls a multi-GB CUDA build).
PYTHON ?= python3
VENV   ?= .venv
PIP     = $(VENV)/bin/pip
PY      = $(VENV)/bin/python
CONSTRAINTS ?= constraints/cpu.txt
EXTRAS ?= all,dev

.PHONY: demo test install install-core system-deps bench clean

$(VENV)/bin/activate:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

# Core only: enough for the offline demo (no torch).
install-core: $(VENV)/bin/activate
	$(PIP) install -q -c $(CONSTRAINTS) -e .

install: $(VENV)/bin/activate
	$(PIP) install -q -c $(CONSTRAINTS) torch==2.13.0
	$(PIP) install -q -c $(CONSTRAINTS) -e ".[$(EXTRAS)]"

# Headless Chromium for the HTML-report browser test (Debian packages; needs root/apt).
system-deps:
	@command -v chromium >/dev/null 2>&1 || { command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null) \
	  || echo "note: chromium not installed; the browser test will be skipped"; }

demo: install-core
	$(VENV)/bin/lam3 demo

test: install system-deps
	$(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

bench: install
	for f in benchmarks/bench_*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

clean:
	rm -rf $(VENV) outputs .pytest_cache build *.egg-info
