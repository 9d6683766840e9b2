# The two commands of the README. Each does all set-up on a fresh machine with only Python.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test test-long bench bench-verifier clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "pybpf needs Python >= 3.11"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $@

demo: $(STAMP)
	@$(BIN)/python examples/demo.py

test: $(STAMP)
	$(BIN)/python -m pytest -q

# The random differential tests (interpreter vs kernel, JIT vs interpreter, verified
# programs on all three) with many more examples than `make test` runs: about 15 minutes.
LONG_EXAMPLES ?= 2000
test-long: $(STAMP)
	PYBPF_DIFF_EXAMPLES=$(LONG_EXAMPLES) $(BIN)/python -m pytest -q \
		tests/differential/test_interp_vs_kernel.py tests/differential/test_jit_vs_interp.py \
		tests/differential/test_jit_verified_vs_interp.py tests/verifier_corpus/test_corpus_jit.py

# The benchmark suite (benchmarks/run.py; not part of `make test`). The bench extra brings
# matplotlib for the PNG chart; without it the suite still runs and says why it has no PNG.
BENCH_STAMP := $(VENV)/.bench-stamp

$(BENCH_STAMP): $(STAMP) pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test,bench]' && touch $@ \
		|| echo "could not install the bench extra (matplotlib): no PNG chart"

bench: $(BENCH_STAMP)
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)

bench-verifier: $(STAMP)
	$(BIN)/python benchmarks/verifier_speed.py

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache .hypothesis
