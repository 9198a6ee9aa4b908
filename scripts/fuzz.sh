#!/usr/bin/env bash
# Fuzzes the admission path (AdmissionReview bytes → decision → response) with cargo fuzz
# (libFuzzer, nightly toolchain) for SECONDS (default 120), starting from the seeds in fuzz/seeds.
# Not part of scripts/test.sh: it needs nightly and runs for as long as you give it.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-120}"
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
corpus=target/fuzz-corpus/admission_review
mkdir -p "$corpus"
cargo +nightly fuzz run --fuzz-dir fuzz admission_review "$corpus" fuzz/seeds/admission_review -- \
  -max_total_time="$seconds" -max_len=65536 -print_final_stats=1
