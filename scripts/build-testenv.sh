#!/usr/bin/env bash
# Builds testenv/bin/palisade-testenv, the one-process Kubernetes control plane
# (etcd + kube-apiserver + kube-controller-manager, v1.37, and kubectl as a
# subcommand) used by the integration tests, and prints the binary's path on stdout.
#
# Idempotent: skips the build while the binary is newer than every input;
# Go's build and module caches (default GOCACHE/GOMODCACHE) make a rebuild
# after a change fast. A cold build compiles Kubernetes: ~12 minutes on 2 cores.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
src="$root/testenv"
bin="$src/bin/palisade-testenv"

if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
  export PATH="$PATH:/usr/local/go/bin"
fi
if ! command -v go >/dev/null 2>&1; then
  echo "build-testenv: the go command is not installed (Go >= 1.26 is needed)" >&2
  exit 1
fi
# go.mod says which Go it needs (k8s.io/kubernetes v1.37 needs 1.26); an older
# local Go fetches that toolchain through the module proxy.
export GOTOOLCHAIN=auto
export GOFLAGS="${GOFLAGS:-} -buildvcs=false"

stale=1
if [ -x "$bin" ]; then
  stale=0
  for f in "$src"/go.mod "$src"/go.sum "$src"/*.go "${BASH_SOURCE[0]}"; do
    if [ "$f" -nt "$bin" ]; then stale=1; fi
  done
fi

if [ "$stale" = 1 ]; then
  echo "build-testenv: building $bin ($(go version | cut -d' ' -f3))" >&2
  start=$(date +%s)
  mkdir -p "$src/bin"
  # Stamp the Kubernetes version as its release builds do, so that the API
  # server's /version and `kubectl version` say v1.37.x rather than the
  # unparsable "v0.0.0-master+$Format:%H$" of an unstamped build (which makes
  # `kubectl version` fail). Only the link step depends on it.
  kver="$(cd "$src" && go list -m -f '{{.Version}}' k8s.io/kubernetes)"
  kminor="$(echo "$kver" | cut -d. -f2)"
  # -s -w: no symbol table or DWARF (as Kubernetes' release builds): panics still
  # give file:line, and linking this ~250 MiB program is then about 10 s faster
  # (the binary ~180 MiB instead of ~250 MiB); drop them to debug with dlv.
  ldflags="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do # the latter: User-Agent
    ldflags="$ldflags -X $pkg.gitVersion=$kver -X $pkg.gitMajor=1 -X $pkg.gitMinor=$kminor -X $pkg.gitTreeState=clean"
  done
  (cd "$src" && nice -n 10 go build -ldflags "$ldflags" -o "$bin.tmp" . && mv "$bin.tmp" "$bin")
  echo "build-testenv: built in $(( $(date +%s) - start ))s" >&2
fi
echo "$bin"
