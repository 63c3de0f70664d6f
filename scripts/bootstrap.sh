#!/usr/bin/env bash
# Makes a machine ready for pgwarden's demo, tests and benchmark: npm packages, PostgreSQL server binaries,
# zstd, gpg, the Temporal CLI and versitygw. Idempotent, and quick when everything is already there.
#   PGWARDEN_TOOLS_DIR  where the Go-built tools go (default ~/.cache/pgwarden/bin; must match client/demo/tools.ts)
#   BOOTSTRAP_SKIP_NPM=1  skip `npm ci` (the caller just ran it)
set -euo pipefail
cd "$(dirname "$0")/.."

TOOLS_DIR="${PGWARDEN_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/pgwarden/bin}"
TEMPORAL_CLI_VERSION=v1.5.1   # later tags carry a replace directive that `go install` refuses
VERSITYGW_VERSION=v1.7.0
say() { printf 'bootstrap: %s\n' "$*"; }
fail() { printf 'bootstrap: %s\n' "$*" >&2; exit 1; }

# 1. npm packages, when package-lock.json changed since the last install.
if [ "${BOOTSTRAP_SKIP_NPM:-0}" != 1 ]; then
  if [ ! -f node_modules/.package-lock.json ] || ! cmp -s package-lock.json .pgwarden/installed-lock.json 2>/dev/null; then
    say "npm ci"
    npm ci --no-audit --no-fund --loglevel=error
    mkdir -p .pgwarden && cp package-lock.json .pgwarden/installed-lock.json
  fi
fi

# 2. Debian packages: PostgreSQL server (initdb, pg_ctl, pg_dump …), zstd, gpg (the emergency decrypt path).
missing=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || missing+=(postgresql)
command -v zstd >/dev/null 2>&1 || missing+=(zstd)
command -v gpg >/dev/null 2>&1 || missing+=(gnupg)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)  # promtool: the metrics test checks the worker's /metrics
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    # Debian starts a default cluster on 5432; pgwarden's demo and tests bring their own.
    if [[ " ${missing[*]} " == *" postgresql "* ]] && command -v pg_lsclusters >/dev/null; then
      pg_lsclusters -h | while read -r ver name _; do pg_ctlcluster "$ver" "$name" stop 2>/dev/null || true; done
    fi
  else
    fail "missing: ${missing[*]}. Install the packages (Debian/Ubuntu: sudo apt-get install ${missing[*]}) and run this again."
  fi
fi

# 3. Go-built tools: a binary on PATH wins, else one built into TOOLS_DIR once.
go_tool() { # name module version
  local name=$1 module=$2 version=$3
  if [ -x "$TOOLS_DIR/$name" ]; then return; fi
  if command -v "$name" >/dev/null 2>&1; then say "$name: using $(command -v "$name")"; return; fi
  command -v go >/dev/null 2>&1 || fail "$name is needed and Go is not installed to build it: install Go 1.22+ (https://go.dev/dl/ or apt-get install golang), or put a $name binary on PATH."
  say "building $name $version with go install (a few minutes, once)"
  mkdir -p "$TOOLS_DIR"
  GOBIN="$TOOLS_DIR" GOFLAGS=-mod=mod go install "$module@$version" \
    || fail "go install $module@$version failed (see above): check access to the Go module proxy (GOPROXY), or put a $name binary on PATH."
}
if [ -z "${TEMPORAL_ADDRESS:-}" ]; then
  go_tool temporal github.com/temporalio/cli/cmd/temporal "$TEMPORAL_CLI_VERSION"
fi
go_tool versitygw github.com/versity/versitygw/cmd/versitygw "$VERSITYGW_VERSION"

say "ready (tools in $TOOLS_DIR)"
