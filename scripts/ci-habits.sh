#!/usr/bin/env bash
# CI habits (issue 13): the dependency policy, the docs, and the declared rust-version, checked
# for real. scripts/test.sh runs it after clippy; alone: `bash scripts/ci-habits.sh [deny] [doc] [msrv]`
# (no argument = all three). Exits non-zero on the first violation.
#
#   deny  cargo-deny 0.20.2 (pinned: its config format moves between releases) against deny.toml:
#         licenses, duplicate versions and banned crates, sources (crates.io only). A cargo-deny
#         0.20.2 on PATH is used as is; otherwise it is built once per machine with
#         `cargo install --locked` into $CARGO_HOME/palisade-tools/ (~5 CPU-minutes: 5-6 min wall
#         measured on a busy 2-core machine) and reused by every later run, in any clone.
#         Advisories: this network reaches the package registries only, so the RustSec database
#         (a git repository on github.com) cannot be fetched. They are checked when a git checkout
#         of rustsec/advisory-db is handed in, as PALISADE_ADVISORY_DB=<dir> or ../shared/advisory-db,
#         and no older than PALISADE_ADVISORY_DB_MAX_AGE_DAYS (90) by its last commit; without one
#         the step says "advisories: SKIPPED" and why, and checks the rest.
#   doc   RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --all-features: broken
#         intra-doc links, links to private items, bad code blocks fail. All features, so that a
#         feature-gated module (palisade-view's `driver`) is documented and links to it resolve.
#   msrv  the root Cargo.toml's rust-version, built: rustup installs that exact toolchain
#         (minimal profile, once per machine) and `cargo check --workspace --all-targets
#         --all-features --locked` runs with it. A version string comparison would prove nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

DENY_VERSION=0.20.2
# cargo-deny keeps a database under db-path in a directory named after a hash of its URL;
# this is the one for deny.toml's db-urls (https://github.com/rustsec/advisory-db).
ADVISORY_DB_DIR=target/advisory-dbs/advisory-db-3157b0e258782691

took() { echo "   ($((SECONDS - $1)) s)"; }

# The path of a cargo-deny $DENY_VERSION binary, installing it if needed.
cargo_deny_bin() {
  if command -v cargo-deny >/dev/null 2>&1 &&
    [ "$(cargo-deny --version 2>/dev/null)" = "cargo-deny $DENY_VERSION" ]; then
    command -v cargo-deny
    return
  fi
  local root="${PALISADE_TOOLS_DIR:-${CARGO_HOME:-$HOME/.cargo}/palisade-tools}/cargo-deny-$DENY_VERSION"
  if [ ! -x "$root/bin/cargo-deny" ]; then
    local t=$SECONDS
    echo "   installing cargo-deny $DENY_VERSION into $root (once per machine)" >&2
    # Its own temporary target dir, not the workspace's; nice so that a developer's build wins.
    env -u CARGO_TARGET_DIR nice -n 19 \
      cargo install --locked --quiet "cargo-deny@$DENY_VERSION" --root "$root" >&2 || return 1
    echo "   installed in $((SECONDS - t)) s" >&2
  fi
  echo "$root/bin/cargo-deny"
}

step_deny() {
  local t=$SECONDS deny db max_age age checks
  echo "== cargo deny (licenses, bans, sources; advisories when a database is handed in)"
  deny="$(cargo_deny_bin)" || return 1

  db="${PALISADE_ADVISORY_DB:-}"
  if [ -z "$db" ] && [ -d ../shared/advisory-db/crates ]; then db=../shared/advisory-db; fi
  checks=(licenses bans sources)
  if [ -n "$db" ]; then
    if [ ! -d "$db/crates" ] || ! git -C "$db" rev-parse --verify -q HEAD >/dev/null; then
      echo "ci-habits: $db is not a git checkout of rustsec/advisory-db (no crates/ or no HEAD)" >&2
      return 1
    fi
    max_age="${PALISADE_ADVISORY_DB_MAX_AGE_DAYS:-90}"
    age=$(( ($(date +%s) - $(git -C "$db" log -1 --format=%ct)) / 86400 ))
    echo "   advisory database: $db, last commit $(git -C "$db" log -1 --format=%cs) ($age days old)"
    if [ "$age" -gt "$max_age" ]; then
      echo "ci-habits: the advisory database is $age days old (limit $max_age days):" \
        "advisories checked against it would pass on stale data; update it" >&2
      return 1
    fi
    mkdir -p "$(dirname "$ADVISORY_DB_DIR")"
    ln -sfn "$(cd "$db" && pwd)" "$ADVISORY_DB_DIR"
    checks+=(advisories)
  else
    echo "   advisories: SKIPPED. No RustSec database here: it lives in a git repository on" \
      "github.com, which this network does not reach (only package registries). Hand one in" \
      "as PALISADE_ADVISORY_DB=<checkout of rustsec/advisory-db> or ../shared/advisory-db."
  fi
  # --offline: no database fetch and no index update; clippy has already downloaded every crate.
  "$deny" --locked --offline check "${checks[@]}"
  took "$t"
}

step_doc() {
  local t=$SECONDS
  echo "== cargo doc (warnings denied)"
  RUSTDOCFLAGS="${RUSTDOCFLAGS:-} -D warnings" \
    cargo doc --workspace --no-deps --all-features --locked --quiet
  took "$t"
}

step_msrv() {
  local t=$SECONDS msrv tc
  msrv="$(sed -n 's/^rust-version *= *"\([0-9.]*\)".*/\1/p' Cargo.toml | head -n 1)"
  if [ -z "$msrv" ]; then
    echo "ci-habits: no rust-version in the root Cargo.toml" >&2
    return 1
  fi
  # rust-version = "1.89" means 1.89.0; name that release exactly, not the newest 1.89.x.
  case "$msrv" in *.*.*) tc="$msrv" ;; *) tc="$msrv.0" ;; esac
  echo "== cargo check with Rust $tc (the declared rust-version)"
  if ! rustup run "$tc" rustc -V >/dev/null 2>&1; then
    echo "   installing Rust $tc with rustup (minimal profile, once per machine)"
    if ! rustup toolchain install "$tc" --profile minimal --no-self-update; then
      echo "ci-habits: rustup could not install $tc, so rust-version = \"$msrv\" is unchecked" >&2
      return 1
    fi
  fi
  rustup run "$tc" cargo check --workspace --all-targets --all-features --locked --quiet
  took "$t"
}

steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(deny doc msrv)
for s in "${steps[@]}"; do
  case "$s" in
    deny | doc | msrv) "step_$s" ;;
    *)
      echo "ci-habits: unknown step '$s' (deny, doc, msrv)" >&2
      exit 2
      ;;
  esac
done
