#!/usr/bin/env bash
# Palisade's main job, offline: check the example tenants and print what every one of their
# namespaces must hold, the same objects the controller applies to a cluster.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --quiet -p palisade
palisade=target/debug/palisade

echo "== palisade validate -f examples/"
"$palisade" validate -f examples/
echo
echo "== palisade render -f examples/ (API server endpoint given for the egress grant of 'analytics')"
"$palisade" render -f examples/ --api-server 10.96.0.1:6443
