# Shared by the set-up scripts (sourced after they define `log` and `die`): a Python 3.8+
# interpreter, pip for it (Debian's python3-pip when running as root without one) and its venv
# module (Debian's python3-venv).

find_python() {
  local py
  for py in python3 python; do
    if command -v "$py" >/dev/null 2>&1 && "$py" -c 'import sys; sys.exit(sys.version_info < (3, 8))' 2>/dev/null; then
      printf '%s\n' "$py"
      return 0
    fi
  done
  return 1
}

ensure_pip() {
  local py=$1
  "$py" -m pip --version >/dev/null 2>&1 && return 0
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    log "pip is missing; installing Debian's python3-pip"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-pip >&2 ||
      { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-pip >&2; }
  fi
  "$py" -m pip --version >/dev/null 2>&1 || die "pip is not available for $py"
}

# Python's venv module (Debian's python3-venv when running as root without it).
ensure_venv() {
  local py=$1
  "$py" -c 'import venv, ensurepip' 2>/dev/null && return 0
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    log "the venv module is missing; installing Debian's python3-venv"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv >&2 ||
      { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv >&2; }
  fi
  "$py" -c 'import venv, ensurepip' 2>/dev/null || die "Python's venv module is not available for $py"
}
