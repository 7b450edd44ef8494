#!/usr/bin/env bash
# One script for set-up, build, tests, benchmarks and the dev server.
# Every subcommand does the set-up it needs when it is missing, and reuses
# what an earlier run left (stamps keyed on the inputs' content).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$ROOT"

VENV="$ROOT/.venv"                  # CPython >= 3.11: tests, build, kuzu
TOOLS_VENV="$ROOT/.venv-pyodide"    # Python >= 3.12: pyodide-lock / pyodide-cli
BUILD="$ROOT/build"
DIST="$BUILD/pyodide-dist"          # local Pyodide distribution (no CDN)
SITE="$BUILD/site"                  # what `serve` and the browser tests serve
STAMPS="$BUILD/stamps"
LITE="$BUILD/lite"                  # the JupyterLite site (static files only)
LITE_DIST="$BUILD/lite-pyodide"     # the distribution + the kernel's wheels
LITE_KUZU="$ROOT/node_modules/kuzu-wasm"  # its sync build ships in the site
ARTIFACTS="$ROOT/test-artifacts"    # screenshots, junit files, traces

# The pure wheels that Pyodide packages need and npm's Pyodide core lacks.
# Versions are the ones its pyodide-lock.json names, so the lock stays valid.
PYODIDE_WHEELS=(
  micropip==0.11.1 packaging==26.1 pytest==9.0.2 pluggy==1.6.0 iniconfig==2.3.0
  pygments==2.20.0 tblib==3.2.2 six==1.17.0 more-itertools==11.0.1 py==1.11.0
  setuptools==82.0.1 pyparsing==3.3.2 attrs==26.1.0 exceptiongroup==1.3.1
)
PYODIDE_SDISTS=(atomicwrites==1.4.1)   # published only as an sdist
# Pure wheels our pyodide-tests need that Pyodide's lock does not name at all:
# added to the lock with add-wheels, next to our own wheel.
PYODIDE_TEST_WHEELS=(rfc8785==0.1.4)
# What jupyterlite-pyodide-kernel 0.8.6 installs at kernel start (ipython,
# jedi and their pure dependencies) at the versions Pyodide's lock names...
LITE_LOCKED_WHEELS=(
  ipython==9.12.0 jedi==0.19.2 parso==0.8.6 traitlets==5.14.3 prompt_toolkit==3.0.52
  asttokens==3.0.1 executing==2.2.1 pure_eval==0.2.3 stack_data==0.6.3 wcwidth==0.6.0
  decorator==5.2.1 matplotlib_inline==0.2.1
)
# ... and what that lock does not name at all (added with add-wheels).
LITE_NEW_WHEELS=(comm==0.2.3)

log() { printf '\033[1m[build.sh]\033[0m %s\n' "$*" >&2; }
die() { printf '[build.sh] error: %s\n' "$*" >&2; exit 2; }

# stamp NAME INPUT... : true when NAME was made from these exact inputs.
stamp_key() { cat "$@" 2>/dev/null | sha256sum | cut -c1-16; }
stamp_ok() { local name=$1; shift; [ -f "$STAMPS/$name" ] && [ "$(cat "$STAMPS/$name")" = "$(stamp_key "$@")" ]; }
stamp_set() { local name=$1; shift; mkdir -p "$STAMPS"; stamp_key "$@" >"$STAMPS/$name"; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

find_python() {  # first interpreter on PATH with at least the given minor version
  local minor=$1 cand
  for cand in python3.13 python3.12 python3.14 python3.11 python3; do
    local exe
    exe=$(command -v "$cand" 2>/dev/null) || continue
    # pyenv shims exist for versions that are not selected: ask the interpreter itself.
    if "$exe" -c "import sys; sys.exit(0 if sys.version_info >= (3, $minor) else 1)" 2>/dev/null; then
      echo "$exe"; return 0
    fi
  done
  if command -v pyenv >/dev/null 2>&1; then
    for cand in $(pyenv versions --bare 2>/dev/null | sort -rV); do
      local exe="$(pyenv root)/versions/$cand/bin/python3"
      if [ -x "$exe" ] && "$exe" -c "import sys; sys.exit(0 if sys.version_info >= (3, $minor) else 1)"; then
        echo "$exe"; return 0
      fi
    done
  fi
  return 1
}

setup_browser() {
  if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then return; fi
  log "installing Debian chromium and chromium-driver"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq chromium chromium-driver >/dev/null
}

# PostgreSQL for the shared-log tests (they start a throwaway server with initdb).
setup_postgres() {
  if compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || command -v initdb >/dev/null 2>&1; then
    return
  fi
  log "installing Debian postgresql (initdb, pg_ctl; the tests start their own server)"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq postgresql >/dev/null
}

setup_venv() {
  if [ ! -x "$VENV/bin/python" ]; then
    local py; py=$(find_python 11) || die "no Python >= 3.11 on PATH"
    log "creating $VENV with $py"
    "$py" -m venv "$VENV"
  fi
  if ! stamp_ok venv pyproject.toml; then
    log "installing the package (editable) with its dev, kuzu, ladybug, postgres and server extras"
    "$VENV/bin/python" -m pip install -q --upgrade pip
    # kuzu and ladybug share no process (see pkg/schemalog/kuzu/profile.py), but do share a venv
    "$VENV/bin/python" -m pip install -q -e ".[dev,kuzu,ladybug,postgres,server]"
    stamp_set venv pyproject.toml
  fi
}

setup_tools_venv() {
  if [ ! -x "$TOOLS_VENV/bin/pyodide" ]; then
    local py
    py=$(find_python 12) || die "pyodide-lock[wheel] 0.2.1 and pyodide-cli 0.5.0 need Python >= 3.12; none is on PATH (install python3.12 or python3.13)"
    log "creating $TOOLS_VENV with $py for pyodide-lock / pyodide-cli"
    "$py" -m venv "$TOOLS_VENV"
    "$TOOLS_VENV/bin/python" -m pip install -q 'pyodide-lock[wheel]==0.2.1' 'pyodide-cli==0.5.0'
  fi
}

setup_npm() {
  if ! stamp_ok npm package-lock.json || [ ! -d node_modules/pyodide ]; then
    command -v npm >/dev/null 2>&1 || die "npm is missing (apt-get install nodejs npm)"
    log "npm ci (pyodide, kuzu-wasm)"
    npm ci --no-audit --no-fund --loglevel=error
    stamp_set npm package-lock.json
  fi
}

# The npm package is Pyodide's core only: add the pure wheels its lock file
# names, and make the lock's sha256 match the files we ship.
setup_pyodide_dist() {
  if stamp_ok pyodide-dist package-lock.json build.sh tools/pyodide_dist.py && [ -f "$DIST/pyodide-lock.base.json" ]; then
    return
  fi
  log "assembling the local Pyodide distribution in $DIST"
  rm -rf "$DIST"; mkdir -p "$DIST"
  cp -r node_modules/pyodide/. "$DIST/"
  "$VENV/bin/python" -m pip download -q --no-deps --only-binary=:all: --python-version 3.14 \
    --implementation py --abi none --platform any -d "$DIST" "${PYODIDE_WHEELS[@]}"
  "$VENV/bin/python" -m pip wheel -q --no-deps -w "$DIST" "${PYODIDE_SDISTS[@]}"
  "$VENV/bin/python" tools/pyodide_dist.py match-lock "$DIST/pyodide-lock.json" "$DIST"
  rm -rf "$BUILD/test-wheels"
  "$VENV/bin/python" -m pip download -q --no-deps --only-binary=:all: --python-version 3.14 \
    --implementation py --abi none --platform any -d "$BUILD/test-wheels" "${PYODIDE_TEST_WHEELS[@]}"
  cp "$DIST/pyodide-lock.json" "$DIST/pyodide-lock.base.json"
  stamp_set pyodide-dist package-lock.json build.sh tools/pyodide_dist.py
}

# build/site: the tree the dev server and the browser tests serve.
setup_site() {
  mkdir -p "$SITE"
  ln -sfn "$ROOT/web" "$SITE/web"
  ln -sfn "$DIST" "$SITE/pyodide"
  ln -sfn "$ROOT/node_modules/kuzu-wasm" "$SITE/kuzu-wasm"
  # pytest-pyodide serves the distribution itself: its test pages reach our
  # JS shim and kuzu-wasm through these two links.
  ln -sfn "$ROOT/web" "$DIST/web"
  ln -sfn "$ROOT/node_modules/kuzu-wasm" "$DIST/kuzu-wasm"
  [ -f "$SITE/index.html" ] || printf '<meta http-equiv="refresh" content="0; url=web/index.html">\n' >"$SITE/index.html"
}

cmd_setup() {
  setup_browser
  setup_postgres
  setup_venv
  setup_tools_venv
  setup_npm
  setup_pyodide_dist
  setup_site
}

cmd_build() {
  cmd_setup
  local inputs; inputs=$(git ls-files pkg pyproject.toml README.md 2>/dev/null | tr '\n' ' ')
  # shellcheck disable=SC2086
  if stamp_ok wheel $inputs && ls "$DIST"/kuzu_schemalog-*.whl >/dev/null 2>&1; then return; fi
  log "building the wheel"
  rm -rf "$BUILD/wheel"
  mkdir -p "$BUILD"
  "$VENV/bin/python" -m build --wheel --outdir "$BUILD/wheel" . >"$BUILD/wheel.log" 2>&1 \
    || { cat "$BUILD/wheel.log" >&2; die "the wheel did not build (log above)"; }
  rm -f "$DIST"/kuzu_schemalog-*.whl
  cp "$BUILD"/wheel/kuzu_schemalog-*-py3-none-any.whl "$BUILD"/test-wheels/*.whl "$DIST/"
  (cd "$DIST" && "$TOOLS_VENV/bin/pyodide" lockfile add-wheels \
      --input pyodide-lock.base.json --output pyodide-lock.json --base-path "$DIST" \
      kuzu_schemalog-*-py3-none-any.whl $(cd "$BUILD/test-wheels" && ls ./*.whl) >/dev/null)
  # shellcheck disable=SC2086
  stamp_set wheel $inputs
  log "wheel: $(basename "$DIST"/kuzu_schemalog-*.whl) registered in $DIST/pyodide-lock.json"
}

# JupyterLite: jupyterlite-core and the Pyodide kernel (the `lite` extra).
setup_lite_venv() {
  if stamp_ok lite-venv pyproject.toml && [ -x "$VENV/bin/jupyter-lite" ]; then return; fi
  log "installing jupyterlite-core and jupyterlite-pyodide-kernel (the lite extra)"
  "$VENV/bin/python" -m pip install -q -e ".[lite]"
  stamp_set lite-venv pyproject.toml
}

# The notebook's Pyodide: a copy of the distribution (our wheel included),
# plus the pure wheels the kernel installs at start, with the lock made to
# match them. A copy, so the base distribution the other tests load stays
# exactly as `build` made it.
setup_lite_dist() {
  if stamp_ok lite-dist "$DIST/pyodide-lock.json" build.sh tools/pyodide_dist.py \
      && [ -f "$LITE_DIST/pyodide-lock.json" ]; then
    return
  fi
  log "assembling the notebook's Pyodide distribution in $LITE_DIST"
  local wheels="$BUILD/lite-wheels"
  local wanted; wanted=$(printf '%s\n' "${LITE_LOCKED_WHEELS[@]}" "${LITE_NEW_WHEELS[@]}")
  if ! stamp_ok lite-wheels <(echo "$wanted"); then
    rm -rf "$wheels"; mkdir -p "$wheels/locked" "$wheels/new"
    local pip_dl=("$VENV/bin/python" -m pip download -q --no-deps --only-binary=:all:
                  --python-version 3.14 --implementation py --abi none --platform any)
    "${pip_dl[@]}" -d "$wheels/locked" "${LITE_LOCKED_WHEELS[@]}"
    "${pip_dl[@]}" -d "$wheels/new" "${LITE_NEW_WHEELS[@]}"
    stamp_set lite-wheels <(echo "$wanted")
  fi
  rm -rf "$LITE_DIST"; mkdir -p "$LITE_DIST"
  # files only: the web/ and kuzu-wasm links of the base are for pytest-pyodide
  find "$DIST" -maxdepth 1 -type f ! -name 'pyodide-lock*.json' -exec cp -t "$LITE_DIST" {} +
  cp "$DIST/pyodide-lock.json" "$LITE_DIST/pyodide-lock.base.json"
  "$VENV/bin/python" tools/pyodide_dist.py match-lock "$LITE_DIST/pyodide-lock.base.json" "$wheels/locked"
  cp "$wheels"/locked/*.whl "$wheels"/new/*.whl "$LITE_DIST/"
  (cd "$LITE_DIST" && "$TOOLS_VENV/bin/pyodide" lockfile add-wheels \
      --input pyodide-lock.base.json --output pyodide-lock.json --base-path "$LITE_DIST" \
      $(cd "$wheels/new" && ls ./*.whl) >/dev/null)
  stamp_set lite-dist "$DIST/pyodide-lock.json" build.sh tools/pyodide_dist.py
}

# build/lite: the JupyterLite site, from lite/ (config, notebooks in lite/files).
cmd_lite() {
  cmd_build
  setup_lite_venv
  setup_lite_dist
  ln -sfn "$LITE" "$SITE/lite"   # served next to the demo page
  local inputs; inputs=$(find lite web/js -type f | LC_ALL=C sort | tr '\n' ' ')
  inputs+=" $LITE_KUZU/package.json"
  # shellcheck disable=SC2086
  if stamp_ok lite $inputs "$LITE_DIST/pyodide-lock.json" build.sh && [ -f "$LITE/jupyter-lite.json" ]; then
    return
  fi
  log "building the JupyterLite site in $LITE"
  # The kernel's addon copies a Pyodide found at <lite dir>/static/pyodide and
  # points pyodideUrl at it (its --pyodide option takes a tarball, not a folder):
  # build from a staging lite dir of links to lite/ and to the distribution.
  local src="$BUILD/lite-src"
  rm -rf "$src" "$LITE" "$BUILD/lite-cache"; mkdir -p "$src/static"
  local f; for f in lite/*; do ln -s "$ROOT/$f" "$src/$(basename "$f")"; done
  ln -s "$LITE_DIST" "$src/static/pyodide"
  # doit keeps its database in the working directory: run from the staging
  # dir, so a rebuild starts clean (a stale database skips tasks whose outputs
  # are gone)
  (cd "$src" && "$VENV/bin/jupyter" lite build --lite-dir "$src" --output-dir "$LITE" \
      --LiteBuildConfig.cache_dir="$BUILD/lite-cache" >"$BUILD/lite.log" 2>&1) \
    || { tail -n 60 "$BUILD/lite.log" >&2; die "jupyter lite build failed (log: $BUILD/lite.log)"; }
  # The notebook opens kuzu-wasm workspaces from inside the kernel: the JS shim
  # and kuzu-wasm's sync build ship in the site, laid out like build/site (the
  # worker's default kuzuUrl ../../kuzu-wasm/sync/index.js then resolves to
  # static/kuzu-wasm/sync/index.js).
  mkdir -p "$LITE/static/schemalog-web/js" "$LITE/static/kuzu-wasm"
  cp web/js/*.mjs "$LITE/static/schemalog-web/js/"
  cp -r "$LITE_KUZU/sync" "$LITE_KUZU/package.json" "$LITE_KUZU/LICENSE" "$LITE/static/kuzu-wasm/"
  # shellcheck disable=SC2086
  stamp_set lite $inputs "$LITE_DIST/pyodide-lock.json" build.sh
  log "JupyterLite site: $LITE (Pyodide from ./static/pyodide, no CDN)"
}

# run_suite NAME PYTEST-ARGS... : pytest with a junit file; records counts.
SUITES=()
run_suite() {
  local name=$1; shift
  local junit="$ARTIFACTS/junit-$name.xml"
  log "suite $name: pytest $*"
  set +e
  SE_CHROMEDRIVER="$(command -v chromedriver)" "$VENV/bin/python" -m pytest -q --junitxml="$junit" "$@"
  local rc=$?
  set -e
  SUITES+=("$name:$rc:$junit")
}

cmd_test() {
  cmd_build
  cmd_lite
  mkdir -p "$ARTIFACTS"
  rm -f "$ARTIFACTS"/junit-*.xml
  run_suite cpython tests
  run_suite chrome pyodide-tests --runtime chrome --dist-dir "$DIST"
  run_suite node pyodide-tests --runtime node --dist-dir "$DIST"
  "$VENV/bin/python" tools/summarize_junit.py "${SUITES[@]}"
}

cmd_serve() {
  cmd_build
  cmd_lite
  local port="${PORT:-8000}"
  # The sync service beside the page: SYNC_STORE is a folder of NDJSON logs
  # (default build/sync-logs) or postgresql://... for a team.
  local sync_port="${SYNC_PORT:-8080}" sync_store="${SYNC_STORE:-$BUILD/sync-logs}"
  "$VENV/bin/schemalog" serve --store "$sync_store" --port "$sync_port" \
    --cors "http://127.0.0.1:$port" --cors "http://localhost:$port" &
  local sync_pid=$!
  # shellcheck disable=SC2064
  trap "kill $sync_pid 2>/dev/null || true" EXIT INT TERM
  log "serving $SITE"
  echo "demo page: http://127.0.0.1:$port/web/index.html"
  echo "notebook:  http://127.0.0.1:$port/lite/lab/index.html?path=schemalog-tour.ipynb"
  echo "sync:      http://127.0.0.1:$sync_port/logs/NAME  (schemalog serve --store $sync_store)"
  "$VENV/bin/python" tools/devserver.py --directory "$SITE" --port "$port"
}

# The peer's pure wheels for Pyodide (bench/peer/pyodide_runner.mjs), pinned by sha256:
# downloaded here, so that the benchmark itself runs offline.
setup_peer_wheels() {
  local pins=bench/peer/pyodide-wheels.txt dir="$ROOT/bench/out/peer-wheels"
  if stamp_ok peer-wheels "$pins" && compgen -G "$dir/eventsourcing-*.whl" >/dev/null; then return; fi
  log "downloading the peer's wheels for Pyodide into $dir ($pins, --require-hashes)"
  rm -rf "$dir"; mkdir -p "$dir"
  "$VENV/bin/python" -m pip download -q --no-deps --only-binary=:all: --python-version 3.14 \
    --implementation py --abi none --platform any --require-hashes -r "$pins" -d "$dir"
  stamp_set peer-wheels "$pins"
}

# bench [NAME...]: every bench/*/run.py, or only the named ones (replay, merge, ...).
cmd_bench() {
  cmd_build
  if ! "$VENV/bin/python" -c "import eventsourcing" 2>/dev/null; then
    log "installing the bench extra (eventsourcing, the peer of bench/replay)"
    "$VENV/bin/python" -m pip install -q -e ".[bench]"
  fi
  setup_peer_wheels
  local names=("$@") b found=0
  [ ${#names[@]} -gt 0 ] || for b in bench/*/run.py; do names+=("$(basename "$(dirname "$b")")"); done
  for name in "${names[@]}"; do
    b="bench/$name/run.py"
    [ -f "$b" ] || die "no benchmark $b"
    found=1
    log "bench $name"
    "$VENV/bin/python" "$b"
  done
  [ "$found" = 1 ] || log "no benchmarks in bench/ yet"
}

case "${1:-}" in
  setup) cmd_setup ;;
  build) cmd_build ;;
  lite) cmd_lite ;;
  test) cmd_test ;;
  serve) cmd_serve ;;
  bench) shift; cmd_bench "$@" ;;
  *) echo "usage: ./build.sh setup|build|lite|test|serve|bench" >&2; exit 2 ;;
esac
