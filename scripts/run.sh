#!/usr/bin/env bash
# Palisade's main job, locally: a real Kubernetes control plane (testenv/), Palisade's CRDs, its
# admission webhook, its controller and its proxy, and the example tenants, converged. It prints
# each tenant's status and what one tenant namespace holds, writes a kubeconfig for every example
# owner (pointing at the proxy, so `kubectl get ns` shows the owner's own), and keeps running
# until Ctrl-C.
#
# With KUBECONFIG set to an existing cluster, it runs against that cluster instead of starting one
# (the webhook then needs to be reachable from the API server: use `palisade webhook --service`).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
state="$root/.palisade"
mkdir -p "$state"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

echo "== building palisade"
cargo build --quiet -p palisade
palisade="$root/target/debug/palisade"

testenv_bin=""
if [ -z "${KUBECONFIG:-}" ]; then
  echo "== starting a local control plane (kube-apiserver, etcd, kube-controller-manager v1.37)"
  testenv_bin="$(bash scripts/build-testenv.sh | tail -n 1)"
  rm -rf "$state/cluster"
  "$testenv_bin" --dir "$state/cluster" > "$state/testenv.out" 2> "$state/testenv.log" &
  pids+=($!)
  for _ in $(seq 1 120); do
    grep -q '^READY ' "$state/testenv.out" 2>/dev/null && break
    sleep 0.5
  done
  grep -q '^READY ' "$state/testenv.out" || { echo "the control plane did not start; see $state/testenv.log" >&2; exit 1; }
  export KUBECONFIG="$state/cluster/admin.kubeconfig"
  webhook_args=(--url https://127.0.0.1:8443 --listen 127.0.0.1:8443 --metrics-listen 127.0.0.1:8081)
  proxy_args=(--client-ca-file "$state/cluster/ca.crt")
else
  echo "== using the cluster of KUBECONFIG=$KUBECONFIG"
  webhook_args=(--listen 127.0.0.1:8443 --metrics-listen 127.0.0.1:8081 --no-register)
  proxy_args=()
fi

echo "== installing the CRDs and the Tenant policy (preventDeletion and validation without the webhook)"
kubectl apply --server-side --field-manager palisade -f deploy/crds/tenant.yaml > /dev/null
kubectl wait --for condition=established --timeout=60s crd/tenants.palisade.dev > /dev/null
# The PolicyReport CRDs `palisade audit` writes to: a cluster with Kyverno or Policy Reporter
# already has them (installed by their charts), and those stay as their owners installed them.
for crd in policyreports clusterpolicyreports; do
  if ! kubectl get crd "$crd.wgpolicyk8s.io" > /dev/null 2>&1; then
    kubectl apply --server-side --field-manager palisade -f "deploy/crds/wgpolicyk8s.io_$crd.yaml" > /dev/null
    kubectl wait --for condition=established --timeout=60s "crd/$crd.wgpolicyk8s.io" > /dev/null
  fi
done
kubectl apply --server-side --field-manager palisade -f deploy/palisade/tenant-policy.yaml > /dev/null
# palisade-system holds the tenant-wide quota ledgers the webhook writes.
kubectl apply --server-side --field-manager palisade -f deploy/palisade/00-namespace.yaml > /dev/null

echo "== starting the webhook, the controller and the proxy (logs in $state/)"
"$palisade" webhook "${webhook_args[@]}" 2> "$state/webhook.log" &
pids+=($!)
"$palisade" controller --metrics-listen 127.0.0.1:8082 2> "$state/controller.log" &
pids+=($!)
"$palisade" proxy --listen 127.0.0.1:9443 --metrics-listen 127.0.0.1:8083 \
  --write-ca "$state/proxy-ca.crt" "${proxy_args[@]}" 2> "$state/proxy.log" &
pids+=($!)
for port in 8081 8083; do
  for _ in $(seq 1 60); do
    curl -sf "http://127.0.0.1:$port/readyz" > /dev/null 2>&1 && break
    sleep 0.5
  done
done

# No RBAC for the owners here: the controller renders each tenant's owner ClusterRole
# (palisade:tenant-owner:<tenant>: create namespaces, get their own Tenant, manage their own
# namespaces by name) next to the RoleBindings in every tenant namespace.
echo "== applying examples/"
kubectl apply --server-side --field-manager palisade-examples -f examples/ > /dev/null
# Reconciled = the status describes the current spec (Ready or not: a tenant asking for a mesh
# the cluster lacks is reconciled but not Ready, and says why).
for _ in $(seq 1 60); do
  pending=$(kubectl get tenants -o jsonpath='{range .items[*]}{.metadata.generation}/{.status.observedGeneration}{"\n"}{end}' \
    | awk -F/ '$1 != $2' | wc -l)
  [ "$pending" -eq 0 ] && break
  sleep 1
done

echo
kubectl get tenants
echo
kubectl get tenants -o custom-columns='TENANT:.metadata.name,REASON:.status.conditions[?(@.type=="Ready")].reason,MESSAGE:.status.conditions[?(@.type=="Ready")].message'
echo
echo "== what namespace payments-api holds"
kubectl get namespace payments-api --show-labels
kubectl get rolebindings,resourcequotas,limitranges,networkpolicies -n payments-api

echo
echo "== tenant policies (examples/policies/): one ValidatingAdmissionPolicy, bound per tenant"
kubectl apply --server-side --field-manager palisade-examples -f examples/policies/ > /dev/null
# The audit judges what runs against those policies and Pod Security: a PolicyReport per namespace.
"$palisade" audit --watch --metrics-listen 127.0.0.1:8084 2> "$state/audit.log" &
pids+=($!)
for _ in $(seq 1 30); do
  [ "$(kubectl get policyreports -A --no-headers 2>/dev/null | wc -l)" -gt 0 ] && break
  sleep 1
done
kubectl get validatingadmissionpolicybindings -o name | head -5
kubectl get policyreports -A

if [ -n "$testenv_bin" ]; then
  echo
  echo "== kubeconfigs for the example tenant owners, through the proxy (and *.direct.kubeconfig to the API server)"
  mint() {
    "$testenv_bin" kubeconfig --dir "$state/cluster" --user "$1" "${@:2}" > "$state/$1.direct.kubeconfig"
    cp "$state/$1.direct.kubeconfig" "$state/$1.kubeconfig"
    cluster=$(kubectl --kubeconfig "$state/$1.kubeconfig" config view -o jsonpath='{.clusters[0].name}')
    kubectl --kubeconfig "$state/$1.kubeconfig" config set-cluster "$cluster" --server https://127.0.0.1:9443 \
      --certificate-authority "$state/proxy-ca.crt" --embed-certs > /dev/null
    echo "  $state/$1.kubeconfig"
  }
  mint alice@example.com --group payments-admins
  mint catalog-dev --group catalog-devs
  mint storefront-dev --group storefront-devs
  mint data-engineer --group data-eng
  echo
  echo "Try, as alice:   KUBECONFIG=$state/alice@example.com.kubeconfig kubectl get namespaces,tenants   # hers only"
  echo "                 KUBECONFIG=$state/alice@example.com.kubeconfig kubectl create namespace payments-web"
  echo "                 KUBECONFIG=$state/alice@example.com.kubeconfig kubectl get namespaces -w"
  echo "and be refused:  KUBECONFIG=$state/alice@example.com.kubeconfig kubectl label namespace kube-system palisade.dev/tenant=payments"
  echo "                 KUBECONFIG=$state/alice@example.com.direct.kubeconfig kubectl get namespaces"
fi
echo
echo "Admin: export KUBECONFIG=$KUBECONFIG   (Ctrl-C stops everything)"
wait
