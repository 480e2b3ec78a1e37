#!/usr/bin/env bash
# Installs the Debian packages attnlab needs and builds it (README's first command).
# Idempotent: packages already present are not reinstalled, and the build is incremental.
#   bash scripts/setup.sh            # release build in build/release
#   PRESET=debug-asan bash scripts/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PRESET="${PRESET:-release}"

say() { printf '[setup] %s\n' "$*"; }

# Build tools, then the libraries of DESIGN.md's dependency table.
PACKAGES=(
  build-essential cmake ninja-build pkg-config
  libopenblas-openmp-dev   # matrix products; the OpenMP build shares our thread pool
  libfftw3-dev             # DCT
  libcli11-dev             # command line
  libtomlplusplus-dev      # configs
  nlohmann-json3-dev       # safetensors headers, metrics
  libsentencepiece-dev     # BPE tokenizer
  libgtest-dev libgmock-dev  # unit tests
  libbenchmark-dev         # micro-benchmarks
  librsvg2-bin             # rsvg-convert: figures as PNG beside the SVG (attnlab eval --plot F.png)
  python3-doc              # the default corpus: Python's documentation sources (scripts/prepare_corpus.sh)
  python3                  # the end-to-end tests parse JSON and safetensors headers with it
  chromium                 # e2e_eval_suite renders `attnlab compare`'s page headless (~80 s to install)
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  say "all ${#PACKAGES[@]} Debian packages are installed"
else
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "[setup] error: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
    SUDO=sudo
  fi
  say "installing: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

say "configuring preset '$PRESET'"
cmake --preset "$PRESET" >/dev/null
say "building (this takes a minute or two the first time)"
cmake --build --preset "$PRESET" -j"$(nproc)"
say "built build/$PRESET/attnlab"
