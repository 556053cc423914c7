#!/usr/bin/env bash
# Runs every test of the project, installing on a fresh machine what the tests need (the
# crates of the Rust test peers, Chromium and npm packages for the browser tests, a Python virtual
# environment for the generated Python client and Schemathesis). Build caches live outside
# the clone, under ${XDG_CACHE_HOME:-~/.cache}/wrpc-kv-gateway, so reruns are fast.
#
#   scripts/test.sh            everything
#   scripts/test.sh go         one step: go, fuzz, browser, sdk (several may be given)
#
# FUZZTIME (default 40000x) is each fuzz target's budget, as go test's -fuzztime takes it.
set -euo pipefail
cd "$(dirname "$0")/.."

cache="${XDG_CACHE_HOME:-$HOME/.cache}/wrpc-kv-gateway"
mkdir -p "$cache"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$cache/cargo-target}"
export npm_config_cache="${npm_config_cache:-$cache/npm}"
export GATEWAY_CACHE_DIR="$cache"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export ARTIFACTS_DIR="${ARTIFACTS_DIR:-$PWD/test-artifacts}"
mkdir -p "$ARTIFACTS_DIR"

steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(go fuzz browser sdk)
passed=0
failed=0

run_step() {
  local name="$1"
  shift
  echo
  echo "==> $name"
  local start=$SECONDS
  if "$@"; then
    passed=$((passed + 1))
    echo "==> $name: ok ($((SECONDS - start)) s)"
  else
    failed=$((failed + 1))
    echo "==> $name: FAILED ($((SECONDS - start)) s)"
  fi
}

gateway_binary() {
  if [ -z "${GATEWAY_BIN:-}" ]; then
    go build -o "$work/gateway" ./cmd/gateway || return
    export GATEWAY_BIN="$work/gateway"
  fi
}

# The end-to-end tests and the README's examples use curl.
ensure_curl() {
  command -v curl >/dev/null && return
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq && apt-get install -y -qq curl >/dev/null
  else
    echo "curl is missing; install it (the end-to-end tests use it)"
    return 1
  fi
}

step_go() {
  command -v cargo >/dev/null || { echo "cargo is missing: the interop tests need a Rust toolchain"; return 1; }
  ensure_curl || return
  cargo build --quiet --release --locked --manifest-path interop/rustpeer/Cargo.toml || return
  export RUSTPEER_BIN="$CARGO_TARGET_DIR/release/rustpeer"
  cargo build --quiet --release --locked --manifest-path interop/wcprovider/Cargo.toml || return
  export WCPROVIDER_BIN="$CARGO_TARGET_DIR/release/wcprovider"
  go vet ./... || return
  unformatted=$(gofmt -l $(git ls-files '*.go')) || return
  if [ -n "$unformatted" ]; then echo "not gofmt-formatted:"; echo "$unformatted"; return 1; fi
  gateway_binary || return
  go test -race -count=1 -timeout 15m ./...
}

# The step functions run as if-conditions, where set -e does not apply: each command that
# can fail returns explicitly.

# Every fuzz target runs for FUZZTIME. The default is a count of inputs, not a duration: with a
# duration, Go before 1.27 can fail a target with "context deadline exceeded" when the deadline
# races a busy worker (golang/go#75804), a failure that says nothing about the code.
fuzztime="${FUZZTIME:-40000x}"
step_fuzz() {
  local pkg name status=0
  for pkg in $(go list ./...); do
    for name in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
      echo "fuzz $pkg $name"
      go test -run='^$' -fuzz="^${name}\$" -fuzztime="$fuzztime" "$pkg" >"$work/fuzz.log" 2>&1 ||
        { cat "$work/fuzz.log"; status=1; }
    done
  done
  return $status
}

step_browser() {
  gateway_binary || return
  bash tests/browser/setup.sh || return
  node --test --test-concurrency=1 tests/browser/
}

step_sdk() {
  gateway_binary || return
  bash tests/sdk/run.sh
}

for s in "${steps[@]}"; do
  case "$s" in
    go) run_step "Go tests: unit, integration, interop with the Rust peer, end to end" step_go ;;
    fuzz) run_step "Go fuzz targets, $fuzztime each" step_fuzz ;;
    browser) run_step "Browser UI in headless Chromium" step_browser ;;
    sdk) run_step "Generated clients, Schemathesis and spec lint" step_sdk ;;
    *) echo "unknown step $s (go, fuzz, browser, sdk)"; exit 2 ;;
  esac
done

echo
echo "steps: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
