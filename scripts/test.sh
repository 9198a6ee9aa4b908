#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it: formatting, lints, the control plane for the
# integration tests, then every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings

# CI habits (issue 13): cargo deny, docs with warnings denied, the declared rust-version built.
bash scripts/ci-habits.sh

if [ -x scripts/build-testenv.sh ] || [ -f scripts/build-testenv.sh ]; then
  echo "== building testenv (the real kube-apiserver + etcd + kube-controller-manager)"
  PALISADE_TESTENV_BIN="$(bash scripts/build-testenv.sh | tail -n 1)"
  export PALISADE_TESTENV_BIN
fi

echo "== cargo test"
cargo test --workspace --no-fail-fast
