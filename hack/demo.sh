#!/usr/bin/env bash
# The README's main command: a local control plane, the CRDs, the samples and
# the operator reconciling them; then shows what appeared. Leaves the cluster
# and the operator running (`make cluster-down` stops both).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
dir=$root/.localcluster
py=$root/.venv/bin/python

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

step "Starting the local control plane (first run builds Kubernetes from source: many minutes)"
"$py" hack/localcluster.py up --no-real-node  # the samples' images exist nowhere yet: kwok runs them
export KUBECONFIG=$dir/kubeconfig PATH=$dir/bin:$PATH

step "Installing the CRDs"
kubectl apply --server-side -f crds/ >/dev/null
kubectl wait --for=condition=Established crd --all --timeout=60s >/dev/null
kubectl get crd -l app.kubernetes.io/part-of=cdp-operator 2>/dev/null || kubectl get crd | grep cdp.dev

step "Starting the operator (log: .localcluster/operator.log)"
if [ -f "$dir/operator.pid" ] && kill -0 "$(cat "$dir/operator.pid")" 2>/dev/null; then
  echo "already running (pid $(cat "$dir/operator.pid"))"
else
  nohup "$py" -m cdp_operator --metrics-port 18090 >"$dir/operator.log" 2>&1 &
  echo $! >"$dir/operator.pid"
  echo "pid $(cat "$dir/operator.pid"); metrics on http://127.0.0.1:18090/metrics"
fi

step "Applying the samples (examples/): data planes, one organization per tier"
kubectl apply --server-side -f examples/00-dataplanes.yaml -f examples/01-organizations.yaml
for org in hobby globex initech; do
  for _ in $(seq 60); do kubectl get ns "cdp-org-$org" >/dev/null 2>&1 && break; sleep 0.5; done
done
step "Applying projects, environments and components into the organization namespaces"
kubectl apply --server-side -f examples/10-hobby.yaml -f examples/20-globex.yaml -f examples/30-initech.yaml

step "Waiting for every sample to be Ready"
kubectl wait --for=condition=Ready dataplanes,organizations --all --timeout=120s >/dev/null
kubectl wait --for=condition=Ready projects,environments,components --all -A --timeout=180s >/dev/null
kubectl get cdp -A

step "Namespaces the operator created"
kubectl get ns -l app.kubernetes.io/managed-by=cdp-operator -L cdp.dev/organization,cdp.dev/project,cdp.dev/environment,cdp.dev/data-plane

step "Workloads, Services, Ingresses and disruption budgets"
kubectl get deploy,cronjob,svc,ingress,pdb -A -l app.kubernetes.io/managed-by=cdp-operator

step "NetworkPolicies (default deny, DNS, same project, visibility, egress allowlists)"
kubectl get networkpolicy -A -l app.kubernetes.io/managed-by=cdp-operator

step "What a runtime namespace carries"
kubectl get ns globex-shop-production -o jsonpath='{.metadata.labels}{"\n"}{.metadata.annotations}{"\n"}'

cat <<MSG

The operator is still running (pid $(cat "$dir/operator.pid")). Try:
  export KUBECONFIG=$dir/kubeconfig PATH=$dir/bin:\$PATH
  kubectl edit organization globex      # payg -> enterprise: no rollout
  kubectl delete deploy -n globex-shop-production orders   # comes back
  kubectl patch organization globex --type merge -p '{"spec":{"tier":"developer"}}'
                                        # over the limits: held and reported (kubectl get org), never deleted
  make cluster-down                     # stops everything
MSG
