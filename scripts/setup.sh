#!/usr/bin/env bash
# Idempotent setup for bitnet-web on a fresh Debian 12 machine: everything comes from the package
# registries (apt, crates.io, npm, PyPI). A second run takes seconds: every step checks before acting.
#
#   - wasm32 std: rustup's wasm32 target if it is already installed, else Debian's rustc-web 1.96,
#     linked into rustup as toolchain "debian", with a wasm32 std built once into its sysroot.
#   - wasm-bindgen-cli at exactly the Cargo.lock version, and wasm-pack, from crates.io.
#   - chromium + chromium-driver, firefox-esr + geckodriver (crates.io), for the headless browser
#     tests; Mesa lavapipe (wgpu on the CPU).
#   - node dev dependencies (binaryen's wasm-opt, playwright-core) into ./node_modules.
#   - a Python venv (.venv) with the PyPI packages used by the fixture scripts.
#
# It writes .setup/env.sh, which the Makefile sources before every build or test.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export DEBIAN_FRONTEND=noninteractive
# Decide about the default toolchain, not one a previous `source .setup/env.sh` selected.
unset RUSTUP_TOOLCHAIN
CARGO_BIN=${CARGO_INSTALL_ROOT:-${CARGO_HOME:-$HOME/.cargo}}/bin
export PATH="$CARGO_BIN:$PATH"
WBG_VERSION=$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/"/,"",$3); print $3; exit}' Cargo.lock)
WASM_PACK_VERSION=0.15.1
GECKODRIVER_VERSION=0.37.1
mkdir -p .setup
t0=$(date +%s)
step() { echo "== setup: $*"; }

APT_UPDATED=0
apt_need() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  if ((APT_UPDATED == 0)); then apt-get update -qq; APT_UPDATED=1; fi
  apt-get install -y -qq "${missing[@]}" >/dev/null
}

step "apt: chromium, chromium-driver, firefox-esr, webkit2gtk-driver (+ Xvfb), lavapipe, python venv"
# firefox-esr before the WebKit packages, so that shared libraries are counted once (toolchain notes §7).
apt_need chromium chromium-driver firefox-esr mesa-vulkan-drivers libvulkan1 python3-venv
apt_need webkit2gtk-driver xvfb xauth

step "rust wasm32 target"
rustup_has_wasm32() {
  command -v rustup >/dev/null || return 1
  local libdir
  libdir=$(rustc --print target-libdir --target wasm32-unknown-unknown 2>/dev/null) || return 1
  compgen -G "$libdir/libstd-*.rlib" >/dev/null &&
    [[ -d "$(rustc --print sysroot)/lib/rustlib/src/rust/library/std" ]]
}
RUST_MODE=rustup
if ! rustup_has_wasm32; then
  RUST_MODE=debian
  # rust-web-llvm ships /usr/bin/rust-lld -> lld-22 but does not depend on lld-22.
  apt_need rustc-web cargo-web rust-web-src lld-22
  if command -v rustup >/dev/null && ! rustup toolchain list | grep -q '^debian'; then
    rustup toolchain link debian /usr
  fi
  dst=/usr/lib/rustlib/wasm32-unknown-unknown/lib
  stamp=/usr/lib/rustlib/wasm32-unknown-unknown/.built-by
  if [[ -f $stamp ]] && /usr/bin/rustc -vV | cmp -s - "$stamp" && compgen -G "$dst/libstd-*.rlib" >/dev/null; then
    echo "   wasm32 std already built for $(/usr/bin/rustc --version)"
  else
    tmp=$(mktemp -d)
    ( cd "$tmp" && /usr/bin/cargo new -q --lib stdbuild && cd stdbuild &&
      printf '\n[profile.release]\nlto = "off"\ncodegen-units = 1\n' >> Cargo.toml &&
      # embed-bitcode keeps `lto = true` release builds working against this std.
      RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc RUSTC_BOOTSTRAP=1 RUSTFLAGS="-Cembed-bitcode=yes" \
        /usr/bin/cargo build -q --release --target wasm32-unknown-unknown -Zbuild-std=std,panic_abort,test )
    mkdir -p "$dst"; rm -f "$dst"/*.rlib
    find "$tmp/stdbuild/target/wasm32-unknown-unknown/release/deps" -name 'lib*.rlib' ! -name 'libstdbuild-*' \
      -exec cp {} "$dst/" \;
    /usr/bin/rustc -vV > "$stamp"; rm -rf "$tmp"
  fi
  export RUSTUP_TOOLCHAIN=debian
fi

step "wasm-bindgen-cli $WBG_VERSION (must equal Cargo.lock)"
# No --locked: the crates.io mirror can lag the CLI's own lock file.
if [[ "$("$CARGO_BIN/wasm-bindgen" --version 2>/dev/null)" != "wasm-bindgen $WBG_VERSION" ]]; then
  cargo install -q wasm-bindgen-cli --version "$WBG_VERSION" --force
fi

step "wasm-pack $WASM_PACK_VERSION"
if [[ "$("$CARGO_BIN/wasm-pack" --version 2>/dev/null)" != "wasm-pack $WASM_PACK_VERSION" ]]; then
  cargo install -q wasm-pack --version "$WASM_PACK_VERSION" --force
fi

step "geckodriver $GECKODRIVER_VERSION (Firefox for wasm-pack test; wasm-pack would download it otherwise)"
if [[ "$("$CARGO_BIN/geckodriver" --version 2>/dev/null | head -1)" != "geckodriver $GECKODRIVER_VERSION"* ]]; then
  cargo install -q geckodriver --version "$GECKODRIVER_VERSION" --force
fi

step "node dev dependencies (binaryen wasm-opt, playwright-core)"
if [[ ! -f node_modules/.setup-stamp ]] || ! cmp -s package-lock.json node_modules/.setup-stamp; then
  npm ci --no-audit --no-fund --silent
  cp package-lock.json node_modules/.setup-stamp
fi

step "python venv for fixture scripts"
if [[ ! -f .venv/.setup-stamp ]] || ! cmp -s requirements-dev.txt .venv/.setup-stamp; then
  python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check -r requirements-dev.txt
  cp requirements-dev.txt .venv/.setup-stamp
fi

cat > .setup/env.sh <<ENV
# written by scripts/setup.sh; sourced by the Makefile
export PATH="$ROOT/node_modules/.bin:$CARGO_BIN:\$PATH"
export CHROMEDRIVER=/usr/bin/chromedriver
export PLAYWRIGHT_CHROMIUM=/usr/bin/chromium
$([[ $RUST_MODE == debian ]] && echo 'export RUSTUP_TOOLCHAIN=debian')
ENV
echo "== setup done in $(( $(date +%s) - t0 )) s ($RUST_MODE toolchain; $(wasm-bindgen --version); $(wasm-pack --version))"
