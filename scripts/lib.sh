# Shared by ./scripts/start and ./scripts/test: install what is missing, then build.
# Everything is idempotent: a second run skips what is already there.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# One target dir outside the checkout, so fresh clones on one machine build warm.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/gatehouse/target}"
export TRUNK_SKIP_VERSION_CHECK=true
export PATH="$HOME/.cargo/bin:$ROOT/e2e/node_modules/.bin:$PATH"

TRUNK_VERSION=0.21.14
# The S3-compatible object store the recordings-in-object-storage tests run against.
GARAGE_VERSION=2.5.0

step() { printf '\n==> %s\n' "$*"; }

# clang: ring (the SSH crypto) compiles C for wasm32 with it.
ensure_debian_packages() {
  local missing=() pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  step "Installing Debian packages: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq -o DPkg::Lock::Timeout=1200 "${missing[@]}"
}

# The wasm-bindgen version the lock file pins; wasm-bindgen-cli must match it exactly.
wasm_bindgen_version() {
  awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3; exit }' "$ROOT/Cargo.lock"
}

ensure_rust_tools() {
  rustup target list --installed | grep -qx wasm32-unknown-unknown || {
    step "Adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
  }
  local component
  for component in rustfmt clippy; do
    rustup component list --installed | grep -q "^$component" || {
      step "Adding the $component component"
      rustup component add "$component"
    }
  done
  local wb
  wb=$(wasm_bindgen_version)
  grep -q "wasm_bindgen = \"$wb\"" "$ROOT/Trunk.toml" || {
    echo "Trunk.toml's [tools] wasm_bindgen must be $wb, the version in Cargo.lock" >&2
    exit 1
  }
  if ! wasm-bindgen --version 2>/dev/null | grep -q " $wb\$"; then
    step "Installing wasm-bindgen-cli $wb"
    # Not --locked: a locked dependency of it is missing from the registry copy here.
    cargo install wasm-bindgen-cli --version "$wb"
  fi
  if ! trunk --version 2>/dev/null | grep -q " $TRUNK_VERSION\$"; then
    step "Installing trunk $TRUNK_VERSION"
    cargo install trunk --version "$TRUNK_VERSION" --locked
  fi
}

# playwright-core (drives Chromium), ws (a WebSocket client for tests) and binaryen
# (wasm-opt 132) from npm; reinstalled when package-lock.json changes.
ensure_node_modules() {
  if [ ! -f "$ROOT/e2e/node_modules/.package-lock.json" ] ||
     [ "$ROOT/e2e/package-lock.json" -nt "$ROOT/e2e/node_modules/.package-lock.json" ]; then
    step "Installing the e2e node modules"
    (cd "$ROOT/e2e" && npm ci --no-audit --no-fund)
  fi
}

# A PostgreSQL server of the tests' own (Debian's 15): a temporary data dir, a free
# port, trust auth on loopback only, no fsync. initdb refuses to run as root, so root
# runs it as the postgres user. Exports GATEHOUSE_TEST_POSTGRES (the store's unit tests
# and the e2e tests use it); stopped, and its folder removed, when the script exits.
PG_BIN=/usr/lib/postgresql/15/bin
as_postgres() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
start_test_postgres() {
  [ -n "${GATEHOUSE_TEST_POSTGRES:-}" ] && return 0
  local dir port
  dir=$(mktemp -d /tmp/gatehouse-pg.XXXXXX)
  [ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  step "Starting PostgreSQL for the tests (port $port, $dir)"
  as_postgres "$PG_BIN/initdb" -D "$dir/data" -U gatehouse --auth=trust -E UTF8 >"$dir/initdb.log"
  as_postgres "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" start >/dev/null
  trap "as_postgres $PG_BIN/pg_ctl -D $dir/data -m immediate stop >/dev/null 2>&1; rm -rf $dir" EXIT
  as_postgres "$PG_BIN/createdb" -h 127.0.0.1 -p "$port" -U gatehouse gatehouse_test
  export GATEHOUSE_TEST_POSTGRES="postgres://gatehouse@127.0.0.1:$port/gatehouse_test"
}

build_web() {
  step "Building the web app (trunk, release wasm; profile wasm-release, set in index.html)"
  ensure_debian_packages brotli
  (cd "$ROOT" && cargo fetch --quiet && trunk build --release)
  # The sign-in app (signin.html, what /signin loads first): trunk builds one page per
  # run and empties its dist before each, so it builds into a dist of its own and its
  # files join the app's (the style and the icon are the same files, by their hashes).
  local signin_dist="$CARGO_TARGET_DIR/signin-dist"
  (cd "$ROOT" && trunk build signin.html --release --dist "$signin_dist" --html-output signin.html)
  cp -r "$signin_dist"/. "$ROOT/dist/"
  # Brotli for browsers that take it, made once here rather than by each proxy at
  # start-up (quality 11 takes a few seconds); the proxy serves NAME.br for NAME after
  # checking that it decompresses to it (proxy/src/http/assets.rs).
  find "$ROOT/dist" -type f -size +512c \( -name '*.wasm' -o -name '*.js' -o -name '*.css' -o -name '*.html' -o -name '*.svg' \) \
    -print0 | xargs -0 -r brotli --force --keep --best
}

# Garage, built once per machine (about 9 minutes on 2 cores) into ~/.cargo/bin, with
# its own target dir: not the project's, which it would fill with a second tree.
ensure_garage() {
  # It prints "garage cargo:2.5.0 [features: …]" when built by cargo install.
  if ! garage --version 2>/dev/null | grep -qE "(v|cargo:)$GARAGE_VERSION\b"; then
    step "Installing Garage $GARAGE_VERSION (the S3-compatible store the recordings tests use)"
    env -u CARGO_TARGET_DIR cargo install garage --version "$GARAGE_VERSION" --locked
  fi
}
