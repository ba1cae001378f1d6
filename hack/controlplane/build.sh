#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, etcd,
# kwok and helm from the Go module proxy into a per-version cache directory
# outside the checkout, and reuses what is already there.
# Prints the directory holding the binaries on its last line.
#
# `build.sh node` builds (or reuses) what a real node runs instead, in a
# directory of its own: kubelet, kube-proxy, containerd and its runc shim,
# runc, the CNI plugins, the pause binary, go-containerregistry's crane
# (it also serves the local registry), kube-router (the NetworkPolicy engine)
# and CoreDNS (cluster DNS). runc needs cgo and libseccomp-dev.
#
# `build.sh flux` builds (or reuses) Flux's source-controller and
# kustomize-controller of one Flux release, and copies their CRDs from the same
# modules (crds/ in that directory).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"
cache_root=${CDP_BIN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cdp-operator/bin}
target=${1:-control-plane}
case $target in
  control-plane) dir="$cache_root/k8s-$KUBERNETES_VERSION-etcd-$ETCD_VERSION-kwok-$KWOK_VERSION-helm-$HELM_VERSION" ;;
  node) dir="$cache_root/node-k8s-$KUBERNETES_VERSION-containerd-$CONTAINERD_VERSION-runc-$RUNC_VERSION-cni-$CNI_PLUGINS_VERSION-ggcr-$GGCR_VERSION-pause-$PAUSE_VERSION" ;;
  flux) dir="$cache_root/flux-$FLUX_VERSION-sc-$FLUX_SOURCE_CONTROLLER_VERSION-kc-$FLUX_KUSTOMIZE_CONTROLLER_VERSION" ;;
  *) echo "usage: $0 [control-plane|node|flux]" >&2; exit 2 ;;
esac
mkdir -p "$dir"
export GOFLAGS=-mod=mod

log() { printf '[build %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

have() { for b in "$@"; do [ -x "$dir/$b" ] || return 1; done; }

# build NAME MODULE_DIR LDFLAGS PKG...: go build into a temp dir, then move into
# the cache so an interrupted build never leaves a half-written binary behind.
# GO_BUILD_ARGS (extra go build flags) and CGO_ENABLED pass through.
build() {
  local what=$1 mod=$2 ldflags=$3; shift 3
  local start tmp
  start=$(date +%s)
  tmp=$(mktemp -d "$dir/.tmp.XXXXXX")
  log "building $what (a cold build on 2 cores takes many minutes; go build -v lists packages as they compile)"
  # go build -v prints one package path per line; anything else (compiler
  # errors, "# pkg" headers, download messages) is passed through as it is.
  local rc=0
  (cd "$here/$mod" && go build -v -trimpath ${GO_BUILD_ARGS:-} -ldflags "$ldflags" -o "$tmp/" "$@") 2>&1 \
     | awk -v what="$what" '/^[A-Za-z0-9._~\/-]+$/ {n++; if (n % 100 == 0) printf("[build] %s: %d packages compiled, now %s\n", what, n, $0) > "/dev/stderr"; next}
                            {print > "/dev/stderr"}' || rc=$?
  [ "$rc" = 0 ] || { rm -rf "$tmp"; log "FAILED: $what (exit $rc; the compiler output is above)"; exit 1; }
  mv "$tmp"/* "$dir/" && rmdir "$tmp"
  log "built $what in $(( $(date +%s) - start ))s"
}

kminor=$(echo "$KUBERNETES_VERSION" | cut -d. -f2)
kver_ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  kver_ldflags+=" -X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$kminor -X $pkg.gitTreeState=clean"
done

total_start=$(date +%s)
if [ "$target" = node ]; then
  have kubelet kube-proxy || build "kubelet and kube-proxy $KUBERNETES_VERSION" kubernetes "$kver_ldflags" \
    k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy
  have containerd containerd-shim-runc-v2 ctr || CGO_ENABLED=0 GO_BUILD_ARGS="-tags=urfave_cli_no_docs" \
    build "containerd $CONTAINERD_VERSION" ../node/containerd \
    "-s -w -X github.com/containerd/containerd/v2/version.Version=$CONTAINERD_VERSION" \
    github.com/containerd/containerd/v2/cmd/containerd github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2 \
    github.com/containerd/containerd/v2/cmd/ctr
  if ! have runc; then
    # runc's seccomp support (the RuntimeDefault profile of restricted pods) is cgo.
    if [ ! -e /usr/include/seccomp.h ]; then
      if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        log "installing libseccomp-dev (Debian) for runc's seccomp support"
        apt-get install -y -qq libseccomp-dev >&2 || { apt-get update -qq && apt-get install -y -qq libseccomp-dev >&2; }
      else
        log "FAILED: runc needs libseccomp-dev (seccomp.h); install it and run again"; exit 1
      fi
    fi
    # The default libpathrs tag needs a library Debian does not package.
    CGO_ENABLED=1 GO_BUILD_ARGS="-buildmode=pie -tags=seccomp,urfave_cli_no_docs" \
      build "runc $RUNC_VERSION" ../node/runc "-s -w -X main.version=${RUNC_VERSION#v}" github.com/opencontainers/runc
  fi
  have bridge host-local loopback portmap || CGO_ENABLED=0 build "CNI plugins $CNI_PLUGINS_VERSION" ../node/cni \
    "-s -w -X github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion=$CNI_PLUGINS_VERSION" \
    github.com/containernetworking/plugins/plugins/main/bridge github.com/containernetworking/plugins/plugins/main/loopback \
    github.com/containernetworking/plugins/plugins/ipam/host-local github.com/containernetworking/plugins/plugins/meta/portmap
  have crane || CGO_ENABLED=0 build "crane $GGCR_VERSION" ../node/crane \
    "-s -w -X github.com/google/go-containerregistry/cmd/crane/cmd.Version=$GGCR_VERSION" \
    github.com/google/go-containerregistry/cmd/crane
  # The NetworkPolicy engine and cluster DNS. Not in the directory's name (that
  # would rebuild everything above): a stamp file says which versions are there.
  addons="kube-router $KUBE_ROUTER_VERSION coredns $COREDNS_VERSION"
  if [ "$(cat "$dir/.addon-versions" 2>/dev/null)" != "$addons" ]; then rm -f "$dir/kube-router" "$dir/coredns"; fi
  have kube-router || CGO_ENABLED=0 build "kube-router $KUBE_ROUTER_VERSION" ../node/kube-router \
    "-s -w -X github.com/cloudnativelabs/kube-router/v2/pkg/version.Version=$KUBE_ROUTER_VERSION" \
    github.com/cloudnativelabs/kube-router/v2/cmd/kube-router
  have coredns || CGO_ENABLED=0 build "coredns $COREDNS_VERSION" ../node/coredns \
    "-s -w -X github.com/coredns/coredns/coremain.GitCommit=$COREDNS_VERSION" github.com/coredns/coredns
  echo "$addons" > "$dir/.addon-versions"
  if ! have pause; then
    # The pause container's program, compiled the way build/pause/Makefile does.
    src=$(cd "$here/kubernetes" && go list -m -f '{{.Dir}}' k8s.io/kubernetes)/build/pause/linux/pause.c
    tmp=$(mktemp -d "$dir/.tmp.XXXXXX")
    gcc -Os -Wall -Werror -static -DVERSION="v$PAUSE_VERSION-$KUBERNETES_VERSION" -o "$tmp/pause" "$src"
    strip "$tmp/pause" && mv "$tmp/pause" "$dir/" && rmdir "$tmp"
    log "built pause $PAUSE_VERSION"
  fi
  log "all node binaries ready in $dir ($(( $(date +%s) - total_start ))s)"
  echo "$dir"
  exit 0
fi
if [ "$target" = flux ]; then
  have source-controller || CGO_ENABLED=0 build "Flux source-controller $FLUX_SOURCE_CONTROLLER_VERSION" ../flux/source-controller \
    "-s -w" github.com/fluxcd/source-controller
  have kustomize-controller || CGO_ENABLED=0 build "Flux kustomize-controller $FLUX_KUSTOMIZE_CONTROLLER_VERSION" ../flux/kustomize-controller \
    "-s -w" github.com/fluxcd/kustomize-controller
  if [ ! -d "$dir/crds" ]; then
    tmp=$(mktemp -d "$dir/.tmp.XXXXXX")
    for c in source-controller kustomize-controller; do
      src=$(cd "$here/../flux/$c" && go list -m -f '{{.Dir}}' "github.com/fluxcd/$c")
      cp "$src"/config/crd/bases/*.yaml "$tmp/"
    done
    chmod -R u+w "$tmp" && mv "$tmp" "$dir/crds"
  fi
  if [ ! -f "$dir/rbac/controller.yaml" ]; then
    # The release's RBAC for its controllers (not reconciler.yaml: cluster-admin).
    src=$(cd "$here/../flux/source-controller" && go mod download -json "github.com/fluxcd/flux2/v2@$FLUX_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
    mkdir -p "$dir/rbac" && cp "$src/manifests/rbac/controller.yaml" "$dir/rbac/" && chmod u+w "$dir/rbac/controller.yaml"
  fi
  log "Flux $FLUX_VERSION ready in $dir ($(( $(date +%s) - total_start ))s)"
  echo "$dir"
  exit 0
fi
have kube-apiserver kube-controller-manager kube-scheduler kubectl || \
  build "kubernetes $KUBERNETES_VERSION" kubernetes "$kver_ldflags" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl
have etcd || build "etcd $ETCD_VERSION" etcd "-s -w" go.etcd.io/etcd/server/v3
for n in v3 server; do [ -x "$dir/$n" ] && mv "$dir/$n" "$dir/etcd" || true; done
have kwok || build "kwok $KWOK_VERSION" kwok "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION#v}" sigs.k8s.io/kwok/cmd/kwok
have helm || build "helm $HELM_VERSION" helm "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" helm.sh/helm/v3/cmd/helm
# kwok's stage definitions (node and pod lifecycles) ship inside its module.
if [ ! -d "$dir/kwok-stages" ]; then
  src=$(cd "$here/kwok" && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)
  mkdir -p "$dir/kwok-stages" && cp -r "$src/kustomize/stage/." "$dir/kwok-stages/" && chmod -R u+w "$dir/kwok-stages"
fi
log "all binaries ready in $dir ($(( $(date +%s) - total_start ))s)"
echo "$dir"
