#!/usr/bin/env bash
# Builds the cdp-operator image without Docker or a base image: a root filesystem
# from Debian packages (mmdebstrap: python3.11 and what it needs, nothing else),
# the operator and its dependencies as wheels from PyPI at the versions of the
# tested .venv, assembled into an OCI image by crane. Runs as root on Debian or
# Ubuntu (mmdebstrap). Writes dist/cdp-operator-<version>.tar (an OCI image
# tarball for `crane push` or `docker load`) and, with REGISTRY=host:port,
# pushes <REGISTRY>/cdp-operator:<version>. Prints the image reference last.
#
# Reproducible as far as the inputs are: every timestamp is SOURCE_DATE_EPOCH
# (the commit's time), file order and owners are fixed, and the Python packages
# are pinned to `pip freeze` of the .venv; Debian's packages are the mirror's
# current bookworm versions (no snapshot archive is reachable here).
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
py=$repo/.venv/bin/python
log() { printf '[image %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

[ "$(id -u)" = 0 ] || { echo "error: make image needs root (mmdebstrap builds the Debian root filesystem)" >&2; exit 1; }
command -v mmdebstrap >/dev/null || { log "installing mmdebstrap (Debian)"; apt-get install -y -qq mmdebstrap >&2 || { apt-get update -qq && apt-get install -y -qq mmdebstrap >&2; }; }
crane="$(hack/controlplane/build.sh node | tail -n 1)/crane"

version=$("$py" -c 'import tomllib; print(tomllib.load(open("pyproject.toml","rb"))["project"]["version"])')
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p dist
start=$(date +%s)

log "Debian root filesystem (bookworm: python3.11)"
mmdebstrap --quiet --variant=essential --include=python3.11 \
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/info/*' \
  --customize-hook='rm -f "$1/etc/resolv.conf" "$1/etc/hostname"' \
  --customize-hook='echo "cdp-operator:x:65532:65532:cdp-operator:/tmp:/usr/sbin/nologin" >> "$1/etc/passwd"' \
  --customize-hook='echo "cdp-operator:x:65532:" >> "$1/etc/group"' \
  --customize-hook='rm -rf "$1/var/cache/apt" "$1/var/lib/apt/lists" "$1/var/log"/* "$1/var/cache/ldconfig/aux-cache"' \
  bookworm "$work/rootfs.tar"

log "the operator and its dependencies (wheels, pinned to the .venv)"
"$repo/.venv/bin/pip" freeze --exclude-editable > "$work/constraints.txt"
"$repo/.venv/bin/pip" wheel --quiet --no-deps --wheel-dir "$work/wheels" "$repo"
"$repo/.venv/bin/pip" install --quiet --no-compile --target "$work/app/opt/cdp-operator" \
  --constraint "$work/constraints.txt" --only-binary=:all: \
  --platform manylinux2014_x86_64 --implementation cp --python-version 3.11 \
  "$work"/wheels/cdp_operator-*.whl
rm -rf "$work/app/opt/cdp-operator/bin"
# pip records where the wheel came from (this build's temporary directory).
rm "$work"/app/opt/cdp-operator/cdp_operator-*.dist-info/direct_url.json
sed -i '/direct_url.json/d' "$work"/app/opt/cdp-operator/cdp_operator-*.dist-info/RECORD
# Bytecode that depends neither on file times nor on this build's temporary
# directory (the path it records is the image's), so two builds write the same bytes.
PYTHONHASHSEED=0 "$py" -m compileall -q -j 0 -s "$work/app" -p / \
  --invalidation-mode unchecked-hash "$work/app/opt/cdp-operator"
"$py" hack/oci_layer.py "$work/app" "$work/app.tar"

log "assembling the OCI image"
# crane edits images in a registry: a throwaway one on 127.0.0.1 holds the steps.
port=$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$crane" registry serve --address "127.0.0.1:$port" 2>"$work/registry.log" &
registry_pid=$!
trap 'kill "$registry_pid" 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 50); do "$crane" catalog --insecure "127.0.0.1:$port" >/dev/null 2>&1 && break; sleep 0.1; done
tmp_ref=127.0.0.1:$port/cdp-operator:$version
"$crane" append --insecure --oci-empty-base -f "$work/rootfs.tar" -f "$work/app.tar" -t "$tmp_ref" >/dev/null
"$crane" mutate --insecure "$tmp_ref" --tag "$tmp_ref" --set-platform linux/amd64 \
  --entrypoint /usr/bin/python3.11,-m,cdp_operator \
  --cmd=--log-format=json,--metrics-address=0.0.0.0,--metrics-port=8080,--health-endpoint=http://0.0.0.0:8081/healthz \
  --env PYTHONPATH=/opt/cdp-operator --env PYTHONUNBUFFERED=1 --env PYTHONDONTWRITEBYTECODE=1 --env HOME=/tmp \
  --user 65532:65532 --workdir / --exposed-ports 8080,8081 \
  --label org.opencontainers.image.title=cdp-operator --label "org.opencontainers.image.version=$version" \
  --label "org.opencontainers.image.description=Data plane operator of a Choreo-style internal developer platform" \
  >/dev/null
tarball=dist/cdp-operator-$version.tar
"$crane" pull --insecure "$tmp_ref" "$tarball"
log "wrote $tarball ($(du -h "$tarball" | cut -f1); digest $("$crane" digest --insecure "$tmp_ref")) in $(( $(date +%s) - start ))s"
if [ -n "${REGISTRY:-}" ]; then
  "$crane" copy --insecure "$tmp_ref" "$REGISTRY/cdp-operator:$version" >&2
  echo "$REGISTRY/cdp-operator:$version"
else
  echo "$tarball"
fi
