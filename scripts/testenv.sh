#!/usr/bin/env bash
# Starts a local Kubernetes v1.37 control plane for humans (builds it first).
# Stop it with Ctrl-C; its temporary directory goes with it.
# Extra arguments go to palisade-testenv (e.g. --dir DIR --keep-dir --verbose).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="$("$root/scripts/build-testenv.sh")"

"$bin" "$@" | while IFS= read -r line; do
  echo "$line"
  case "$line" in
    READY*)
      kc="$(sed -n 's/.*kubeconfig=\([^ ]*\).*/\1/p' <<<"$line")"
      dir="$(sed -n 's/.*dir=\([^ ]*\).*/\1/p' <<<"$line")"
      cat <<MSG

The control plane is ready. In another shell:
  export KUBECONFIG=$kc
  kubectl get namespaces
Act as another user (client certificate, CN=user, O=group):
  $bin kubeconfig --dir $dir --user alice --group team-a --out /tmp/alice.kubeconfig
  kubectl --kubeconfig /tmp/alice.kubeconfig auth whoami
Rust tests can reuse this control plane instead of starting their own:
  export PALISADE_TESTENV_KUBECONFIG=$kc
Ctrl-C stops it.
MSG
      ;;
  esac
done
