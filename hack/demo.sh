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
# As root on Linux also a local registry and a real node (containerd, kubelet, kube-proxy);
# elsewhere it says why not, and kwok's simulated nodes run the pods. CDP_REAL_NODE=0: kwok only.
"$py" hack/localcluster.py up $([ "${CDP_REAL_NODE:-}" = 0 ] && echo --no-real-node)
export KUBECONFIG=$dir/kubeconfig PATH=$dir/bin:$PATH
real_node=false
if "$py" hack/localcluster.py env | grep -q '^export CDP_REGISTRY='; then real_node=true; fi

if $real_node; then
  step "Pushing a stand-in for every image the samples name to the local registry"
  # The node pulls every image name from the local registry; the examples stay as a
  # user writes them (registry.example.com/...).
  "$py" hack/stand_in_images.py examples/*.yaml
fi

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

step "Waiting for every sample to be Ready$($real_node && echo ' (Components: their pods really run)')"
kubectl wait --for=condition=Ready dataplanes,organizations --all --timeout=120s >/dev/null
kubectl wait --for=condition=Ready projects,environments,components --all -A --timeout=300s >/dev/null
kubectl get cdp -A

step "Namespaces the operator created"
kubectl get ns -l app.kubernetes.io/managed-by=cdp-operator -L cdp.dev/organization,cdp.dev/project,cdp.dev/environment,cdp.dev/data-plane

step "Workloads, Services, Ingresses and disruption budgets"
kubectl get deploy,cronjob,svc,ingress,pdb -A -l app.kubernetes.io/managed-by=cdp-operator

step "NetworkPolicies (default deny, DNS, same project, visibility, egress allowlists)"
kubectl get networkpolicy -A -l app.kubernetes.io/managed-by=cdp-operator

step "What a runtime namespace carries"
kubectl get ns globex-shop-production -o jsonpath='{.metadata.labels}{"\n"}{.metadata.annotations}{"\n"}'

if $real_node; then
  step "Pods: real containers on the real node cdp-node"
  kubectl get pods -A -l app.kubernetes.io/managed-by=cdp-operator -o wide

  step "A real HTTP request through a Service: storefront calls orders (same project, production)"
  orders_ip=$(kubectl get svc -n globex-shop-production orders -o jsonpath='{.spec.clusterIP}')
  for port in 8080 9090; do
    echo "\$ kubectl exec -n globex-shop-production deploy/storefront -- wget -qO- http://$orders_ip:$port/"
    kubectl exec -n globex-shop-production deploy/storefront -- /bin/busybox wget -qO- "http://$orders_ip:$port/"
  done
  echo "\$ curl http://$orders_ip:8080/    # from this host, through kube-proxy's nftables rules"
  curl -sS --max-time 10 "http://$orders_ip:8080/"

  step "A manual task's run: a real Job in every environment of reindex"
  kubectl annotate component -n cdp-org-globex reindex cdp.dev/run-request="demo-$(date +%s)" --overwrite >/dev/null
  for _ in $(seq 120); do
    [ "$(kubectl get jobs -n globex-analytics-development-eu -l app.kubernetes.io/name=reindex -o name | wc -l)" -gt 0 ] && break
    sleep 0.5
  done
  kubectl wait --for=condition=Complete jobs -l app.kubernetes.io/name=reindex -n globex-analytics-development-eu --timeout=120s >/dev/null
  kubectl wait --for=condition=Complete jobs -l app.kubernetes.io/name=reindex -n globex-analytics-production-eu --timeout=120s >/dev/null
  kubectl get jobs -A -l app.kubernetes.io/name=reindex
  kubectl logs -n globex-analytics-production-eu -l app.kubernetes.io/name=reindex --prefix
else
  step "No real node (CDP_REAL_NODE=0, or the first step says why): kwok simulates the pods, no container runs"
  kubectl get pods -A -l app.kubernetes.io/managed-by=cdp-operator -o wide | awk 'NR <= 12'  # all input read: no SIGPIPE under pipefail
fi

cat <<MSG

The operator is still running (pid $(cat "$dir/operator.pid")). Try:
  export KUBECONFIG=$dir/kubeconfig PATH=$dir/bin:\$PATH
  kubectl edit organization globex      # payg -> enterprise: no rollout
  kubectl delete deploy -n globex-shop-production orders   # comes back
  kubectl patch organization globex --type merge -p '{"spec":{"tier":"developer"}}'
                                        # over the limits: held and reported (kubectl get org), never deleted
  make cluster-down                     # stops everything
MSG
