# shellcheck shell=bash
# Pinned developer tools for SAS. Source this file; call `sas_install_tools`.
# Every step is skipped when the tool is already present at the right version.
# Only package registries are used (rustup, crates.io, npm, Debian apt).

SAS_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export SAS_ROOT

WORKER_BUILD_VERSION="0.8.7"
WASM_BINDGEN_VERSION="0.2.130"

sas_log() { printf '\033[1m[sas]\033[0m %s\n' "$*" >&2; }
sas_die() { printf '\033[31m[sas] error:\033[0m %s\n' "$*" >&2; exit 1; }

sas_sudo() {
  if [ "$(id -u)" = "0" ]; then "$@"; else sudo "$@"; fi
}

sas_cargo_bin() { echo "${CARGO_HOME:-$HOME/.cargo}/bin"; }

sas_install_rust_tools() {
  command -v cargo >/dev/null 2>&1 || sas_die "cargo not found: install Rust with rustup (https://rustup.rs) first"
  export PATH="$(sas_cargo_bin):$PATH"
  if command -v rustup >/dev/null 2>&1; then
    if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
      sas_log "rustup target add wasm32-unknown-unknown"
      rustup target add wasm32-unknown-unknown
    fi
  fi
  if ! worker-build --version 2>/dev/null | grep -q "$WORKER_BUILD_VERSION"; then
    sas_log "cargo install worker-build $WORKER_BUILD_VERSION (about 10 min on 2 cores)"
    cargo install worker-build --version "$WORKER_BUILD_VERSION" --locked
  fi
  if ! wasm-bindgen --version 2>/dev/null | grep -q "$WASM_BINDGEN_VERSION"; then
    # No --locked: one dependency version in its lockfile is gone from crates.io.
    sas_log "cargo install wasm-bindgen-cli $WASM_BINDGEN_VERSION (about 5 min on 2 cores)"
    cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
  fi
}

# `npm ci`: installs exactly the locked versions and never rewrites the
# lockfile. The lockfiles list every platform's optional packages (workerd,
# esbuild, rolldown for Linux, macOS and Windows), so this works on a fresh
# Debian or macOS machine alike.
sas_npm_install() {
  local dir="$1"
  (cd "$dir" && npm ci --no-audit --no-fund) || sas_die "npm ci failed in $dir"
}

sas_install_node_tools() {
  command -v npm >/dev/null 2>&1 || sas_die "npm not found: install Node.js (any version >= 18 with npm; Node 22 itself comes from npm)"
  local stamp="$SAS_ROOT/node_modules/.sas-lock-stamp"
  if [ ! -x "$SAS_ROOT/node_modules/.bin/wrangler" ] || [ ! -f "$stamp" ] || ! cmp -s "$SAS_ROOT/package-lock.json" "$stamp"; then
    sas_log "npm ci (root: wrangler, Node 22, binaryen, esbuild, playwright-core)"
    sas_npm_install "$SAS_ROOT"
    cp "$SAS_ROOT/package-lock.json" "$stamp"
  fi
  if [ -f "$SAS_ROOT/web/package-lock.json" ]; then
    local wstamp="$SAS_ROOT/web/node_modules/.sas-lock-stamp"
    if [ ! -f "$wstamp" ] || ! cmp -s "$SAS_ROOT/web/package-lock.json" "$wstamp"; then
      sas_log "npm ci (web/)"
      sas_npm_install "$SAS_ROOT/web"
      cp "$SAS_ROOT/web/package-lock.json" "$wstamp"
    fi
  fi
}

sas_install_system_tools() {
  # Debian/Ubuntu only: chromium for the browser test, wrk for benchmarks,
  # postgresql server binaries for the archiver tests (private initdb per test),
  # the sqlite3 shell for the Worker's export tests (real SQLite, D1 migrations).
  command -v apt-get >/dev/null 2>&1 || return 0
  local missing=()
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  command -v wrk >/dev/null 2>&1 || missing+=(wrk)
  command -v curl >/dev/null 2>&1 || missing+=(curl)
  compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
  command -v sqlite3 >/dev/null 2>&1 || missing+=(sqlite3)
  if [ "${#missing[@]}" -gt 0 ]; then
    sas_log "apt-get install ${missing[*]}"
    sas_sudo apt-get update -qq
    sas_sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
  fi
}

# Exports the tool paths worker-build and wrangler need, so nothing is
# downloaded at build time and nothing phones home.
sas_export_env() {
  export PATH="$SAS_ROOT/node_modules/.bin:$(sas_cargo_bin):$PATH"
  export WASM_BINDGEN_BIN="${WASM_BINDGEN_BIN:-$(sas_cargo_bin)/wasm-bindgen}"
  export ESBUILD_BIN="${ESBUILD_BIN:-$SAS_ROOT/node_modules/.bin/esbuild}"
  export WASM_OPT_BIN="${WASM_OPT_BIN:-$SAS_ROOT/node_modules/.bin/wasm-opt}"
  export WRANGLER_SEND_METRICS=false
  export CLOUDFLARE_CF_FETCH_ENABLED=false
  export SAS_NODE="$SAS_ROOT/node_modules/.bin/node"
  export SAS_WRANGLER="$SAS_ROOT/node_modules/.bin/wrangler"
}

sas_install_tools() {
  sas_install_rust_tools
  sas_install_node_tools
  if [ "${SAS_SKIP_SYSTEM_TOOLS:-0}" != "1" ]; then sas_install_system_tools; fi
  sas_export_env
}

# Keep a build cache shared between fresh clones (CI) from filling the disk.
# Every clone rebuilds the workspace's own crates (their sources are newer than
# any cached output), and a clone at another path builds them under new hashes,
# so their old artifacts and incremental state are dead weight: drop them. The
# dependencies' artifacts are what make a warm run warm; they stay unless the
# whole directory outgrew SAS_TARGET_DIR_MAX_GB (default 16), then it goes.
sas_trim_target_dir() {
  local dir="$1" max_gb="${SAS_TARGET_DIR_MAX_GB:-16}"
  [ -d "$dir" ] || return 0
  rm -rf "$dir"/*/incremental "$dir"/*/*/incremental
  local names
  names="$(cargo metadata --no-deps --format-version 1 --manifest-path "$ROOT/Cargo.toml" \
    | "$SAS_NODE" -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const m=JSON.parse(s);const n=new Set();for(const p of m.packages){n.add(p.name);for(const t of p.targets)n.add(t.name.replace(/-/g,"_"));}console.log([...n].join(" "));})')"
  local profile name
  for profile in "$dir"/debug "$dir"/release "$dir"/*/debug "$dir"/*/release; do
    [ -d "$profile" ] || continue
    for name in $names; do
      rm -rf "$profile/deps/$name-"* "$profile/deps/lib$name-"* \
             "$profile/.fingerprint/$name-"* "$profile/build/$name-"*
    done
  done
  local kb
  kb="$(du -sk "$dir" | cut -f1)"
  if [ "$kb" -gt $((max_gb * 1024 * 1024)) ]; then
    sas_log "build cache is $((kb / 1024 / 1024)) GB, over ${max_gb} GB: starting it afresh"
    rm -rf "$dir"
    mkdir -p "$dir"
    kb=0
  fi
  sas_log "build cache $dir: $((kb / 1024)) MB; free on its disk: $(df -Pk "$dir" | awk 'NR==2 {print int($4/1024)}') MB"
}
