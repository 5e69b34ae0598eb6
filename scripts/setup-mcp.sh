#!/usr/bin/env bash
# Installs the MCP client the end-to-end tests of `usher mcp` drive the server with: the
# official Python SDK (`mcp` from PyPI), pinned with its dependencies in
# tests/mcp/requirements.txt, into a virtual environment at <tools>/mcp-venv.
#
# Usage:  scripts/setup-mcp.sh      (also run by scripts/setup.sh, so by `make test`)
# Env:    USHER_TOOLS_DIR  where to install (default: <repo>/.tools)
#
# Idempotent: when the environment exists and holds exactly the pinned versions (recorded in
# <venv>/.usher-requirements after a successful install), nothing is installed. Progress goes
# to stderr; the last line on stdout is the environment's python, e.g.
#   PYTHON=$(scripts/setup-mcp.sh | tail -n 1)
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tools_dir=${USHER_TOOLS_DIR:-$repo_root/.tools}
venv=$tools_dir/mcp-venv
requirements=$repo_root/tests/mcp/requirements.txt

log() { printf 'setup-mcp: %s\n' "$*" >&2; }
die() { printf 'setup-mcp: error: %s\n' "$*" >&2; exit 1; }
# shellcheck source=scripts/python-lib.sh
source "$repo_root/scripts/python-lib.sh"

stamp=$venv/.usher-requirements
if [[ -x $venv/bin/python ]] && cmp -s "$requirements" "$stamp" \
   && "$venv/bin/python" -c 'import mcp' 2>/dev/null; then
  log "ok   mcp client already installed ($venv)"
  printf '%s\n' "$venv/bin/python"
  exit 0
fi

py=$(find_python) || die "no Python 3.8+ found (python3); install one, then re-run"
ensure_venv "$py"

log "creating $venv and installing the pinned MCP client (tests/mcp/requirements.txt)"
rm -rf "$venv"
mkdir -p "$tools_dir"
"$py" -m venv "$venv" || die "cannot create the virtual environment $venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
  --only-binary=:all: -r "$requirements" >&2 \
  || die "pip could not install tests/mcp/requirements.txt into $venv"
"$venv/bin/python" -c 'import mcp' || die "the mcp package does not import in $venv"
cp "$requirements" "$stamp"
log "ok   mcp client installed ($venv)"
printf '%s\n' "$venv/bin/python"
