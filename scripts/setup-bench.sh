#!/usr/bin/env bash
# Installs the peer language server that scripts/bench-lsp.py compares usher against:
#
#   yaml-language-server (pinned below), from npm, into <repo>/.tools/node_modules.
#
# Usage:  scripts/setup-bench.sh      (also run by `make bench-lsp`)
# Env:    USHER_TOOLS_DIR  where to install (default: <repo>/.tools)
#
# Idempotent: an existing install of the pinned version is reused without touching the
# network. The last line on stdout is the absolute path of the `yaml-language-server`
# launcher, e.g.  YLS=$(scripts/setup-bench.sh | tail -n 1)
set -euo pipefail

# 2.0.0 declares Node >= 22.13; it also runs the benchmark correctly on Node 20 (checked: same
# diagnostics, hovers and completions as usher on the generated files).
readonly YLS_VERSION=2.0.0

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tools_dir=${USHER_TOOLS_DIR:-$repo_root/.tools}
launcher=$tools_dir/node_modules/.bin/yaml-language-server
package_json=$tools_dir/node_modules/yaml-language-server/package.json

log() { printf 'setup-bench: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

installed_version() {
  [[ -f $package_json ]] || return 1
  node -e 'process.stdout.write(require(process.argv[1]).version)' "$package_json" 2>/dev/null
}

command -v node >/dev/null 2>&1 || die "node not found on PATH; yaml-language-server needs Node.js (18 or newer)"
command -v npm >/dev/null 2>&1 || die "npm not found on PATH; it installs yaml-language-server"

if [[ -x $launcher && $(installed_version || true) == "$YLS_VERSION" ]]; then
  log "ok   yaml-language-server $YLS_VERSION already installed ($launcher)"
else
  log "installing yaml-language-server@$YLS_VERSION into $tools_dir"
  mkdir -p "$tools_dir"
  npm install --prefix "$tools_dir" --no-audit --no-fund --loglevel=error \
    "yaml-language-server@$YLS_VERSION" >&2
  [[ -x $launcher ]] || die "npm finished but $launcher is missing"
  got=$(installed_version || true)
  [[ $got == "$YLS_VERSION" ]] || die "installed yaml-language-server is '$got', expected $YLS_VERSION"
  log "ok   yaml-language-server $YLS_VERSION installed"
fi

printf '%s\n' "$launcher"
