# usher: common tasks. Every target uses the one default Cargo target dir (target/).
# `make test`, `make demo` and `make bench` all build with the release profile
# (bench inherits release), so they share one build.

CARGO ?= cargo
USHER := ./target/release/usher

.PHONY: all demo test bench bench-lsp setup fmt lint build clean

all: build

## demo: build usher and check the embedded demo repository (fixtures/demo).
demo: build
	@echo "==> usher check fixtures/demo  (19 deliberate schema/YAML mistakes, see fixtures/demo/EXPECTED.md, plus warnings from the bundled policy pack)"
	$(USHER) check fixtures/demo || test $$? -eq 1
	@echo "==> note: usher exits 1 when it finds errors; the demo is supposed to have them, so this target succeeds."
	@echo "==> usher index  (fixtures/demo/knowledge: a wiki page, a Slack export, a meeting transcript; with the policies and kinds)"
	cd fixtures/demo && ../../$(USHER) index
	@echo "==> usher search \"which region can I run a postgres database in?\""
	cd fixtures/demo && ../../$(USHER) search -k 3 "which region can I run a postgres database in?"
	@echo "==> usher check --explain fixtures/demo/databases  (the written rules and policies behind each resource)"
	$(USHER) check --explain fixtures/demo/databases || test $$? -eq 1
	@echo "==> usher mcp  (an AI agent's session over MCP: search the rules, check a manifest, re-check the fixed YAML; scripts/mcp-demo.py)"
	python3 scripts/mcp-demo.py $(USHER)

## test: unit, end-to-end and corpus tests (release profile, shared with demo/bench).
test: setup
	USHER_REQUIRE_NVIM=1 USHER_REQUIRE_MCP=1 $(CARGO) test --workspace --release

## bench: run the check, policy, retrieval, knowledge-index, MCP, CEL and cluster benchmarks (they print their figures).
bench: build
	$(CARGO) bench -p usher --bench check
	$(CARGO) bench -p usher --bench policy
	$(CARGO) bench -p usher --bench retrieval
	$(CARGO) bench -p usher --bench knowledge
	$(CARGO) bench -p usher --bench mcp
	$(CARGO) bench -p usher --bench cel
	$(CARGO) bench -p usher --bench cluster

## bench-lsp: replay benchmark of `usher lsp` over stdio, with yaml-language-server on the same
## files (installed into .tools/ by scripts/setup-bench.sh); prints a table with ratios.
bench-lsp: build
	@scripts/setup-bench.sh >/dev/null
	CARGO="$(CARGO)" python3 scripts/bench-lsp.py --usher $(USHER)

## setup: check the toolchain (idempotent; later capabilities install their tools here).
setup:
	@scripts/setup.sh

## fmt: format all Rust code.
fmt:
	$(CARGO) fmt --all

## lint: clippy over every target, warnings are errors.
lint:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

## build: release build of the usher binary (target/release/usher).
build:
	$(CARGO) build --release -p usher

## clean: remove target/.
clean:
	$(CARGO) clean
