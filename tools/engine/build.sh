#!/usr/bin/env bash
# Builds the Pulumi engine and the Kubernetes side of the engine tier, from the Go module
# proxy only, into ${MLOPS_TOOLS_CACHE:-~/.cache/mlops-observability/tools}/:
#   pulumi-<version>/pulumi                 the CLI (github.com/pulumi/pulumi/pkg/v3/cmd/pulumi)
#   pulumi-<version>/pulumi-language-python our own language host (./pulumi-language-python):
#                                           the proxy does not serve the upstream one
#   pulumi-<version>/pulumi-language-python-exec  the sdk module's exec script, which the host runs
#   pulumi-resource-kubernetes-4.25.0/      the Kubernetes provider plugin, from ./kubernetes
#                                           (our own main around the provider's Serve)
#   kubernetes-<v>-etcd-<v>/                etcd, kube-apiserver, kube-controller-manager,
#                                           kube-scheduler and kwok, from ./cluster in one build
#   kube-state-metrics-<tag>/               kube-state-metrics at the pinned image's tag
#                                           (./kube-state-metrics.sh), run against the plane
# The CLI's version is the pkg/v3 requirement of go.mod (the wrapper module: pkg's go.mod
# replaces the sdk with a local path, so `go install pkg@version` refuses it). Outputs are
# cached by version and a hash of their inputs: a warm run takes about a second.
# Prints each binary's path, one a line. Nothing goes in the repo.
set -euo pipefail
engine="$(cd "$(dirname "$0")" && pwd)"
cache="${MLOPS_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mlops-observability/tools}"
export GOFLAGS=-buildvcs=false GOTOOLCHAIN=local
cd "$engine"
# One build at a time; the engine tier's fixtures wait for this lock (tests/tools.py).
mkdir -p "$cache"
exec 9>"$cache/engine-build.lock"
flock 9

source "$engine/../go-mod.sh"
version="$(required go.mod github.com/pulumi/pulumi/pkg/v3)"
sdk_version="$(required go.mod github.com/pulumi/pulumi/sdk/v3)"
[ -n "$version" ] && [ "$version" = "$sdk_version" ] || {
  echo "tools/engine/go.mod must require pkg/v3 and sdk/v3 at one tag (got '$version' and '$sdk_version')" >&2
  exit 1
}
out="$cache/pulumi-$version"
mkdir -p "$out"
build() { # build OUTPUT LDFLAGS PACKAGE [VERSION]: atomically, so an interrupted build leaves nothing behind
  local start=$SECONDS
  echo "building $(basename "$1") ${4:-$version}" >&2
  nice -n 10 go build -ldflags "$2" -o "$1.tmp" "$3"
  mv "$1.tmp" "$1"
  echo "built $(basename "$1") in $((SECONDS - start))s" >&2
}

if [ ! -x "$out/pulumi" ]; then
  build "$out/pulumi" "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$version" \
    github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
fi

host_hash="$(cat go.mod go.sum pulumi-language-python/*.go | sha256sum | cut -c1-16)"
if [ ! -x "$out/pulumi-language-python" ] || [ "$(cat "$out/pulumi-language-python.src" 2>/dev/null)" != "$host_hash" ]; then
  build "$out/pulumi-language-python" "-s -w -X main.Version=$version" ./pulumi-language-python
  echo "$host_hash" >"$out/pulumi-language-python.src"
fi

if [ ! -f "$out/pulumi-language-python-exec" ]; then
  sdk_dir="$(go list -m -f '{{.Dir}}' github.com/pulumi/pulumi/sdk/v3)"
  [ -n "$sdk_dir" ] || { go mod download github.com/pulumi/pulumi/sdk/v3 && sdk_dir="$(go list -m -f '{{.Dir}}' github.com/pulumi/pulumi/sdk/v3)"; }
  install -m 0755 "$sdk_dir/python/cmd/pulumi-language-python-exec" "$out/pulumi-language-python-exec.tmp"
  mv "$out/pulumi-language-python-exec.tmp" "$out/pulumi-language-python-exec"
fi

# The Kubernetes provider plugin and the local control plane (etcd, kube-apiserver,
# kube-controller-manager) the tier runs `pulumi up` against, from their wrapper modules.
provider_module=github.com/pulumi/pulumi-kubernetes/provider/v4
provider_version="$(required kubernetes/go.mod "$provider_module")"
# The module has no provider/v4.x tags: this pseudo-version is the commit of release v4.25.0.
kubernetes_plugin=4.25.0
[ "$provider_version" = v4.0.0-20260115033456-f47bc2d6f199 ] || {
  echo "kubernetes/go.mod: $provider_module $provider_version is not the commit of v$kubernetes_plugin" >&2
  exit 1
}
plugin_out="$cache/pulumi-resource-kubernetes-$kubernetes_plugin"
plugin="$plugin_out/pulumi-resource-kubernetes"
plugin_hash="$(cat kubernetes/go.mod kubernetes/go.sum kubernetes/main.go | sha256sum | cut -c1-16)"
if [ ! -x "$plugin" ] || [ "$(cat "$plugin.src" 2>/dev/null)" != "$plugin_hash" ]; then
  scratch="$(mktemp -d)"
  cp kubernetes/go.mod kubernetes/go.sum kubernetes/main.go "$scratch/"
  (cd "$scratch" && go mod download "$provider_module")
  provider_dir="$(cd "$scratch" && go list -m -f '{{.Dir}}' "$provider_module")"
  python3 - "$provider_dir/cmd/pulumi-resource-kubernetes" "$scratch" "$kubernetes_plugin" <<'PY'
import json, shutil, sys
from pathlib import Path
source, dest, version = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
schema = json.loads((source / "schema.json").read_text())
schema["version"] = version  # what upstream's `go generate` stamps in
(dest / "schema-embed.json").write_text(json.dumps(schema))
shutil.copy(source / "terraform-mapping.json", dest / "terraform-mapping-embed.json")
PY
  mkdir -p "$plugin_out"
  (cd "$scratch" && build "$plugin" "-s -w -X $provider_module/pkg/version.Version=$kubernetes_plugin" . "$kubernetes_plugin")
  rm -rf "$scratch"
  echo "$plugin_hash" >"$plugin.src"
fi

kube_version="$(required cluster/go.mod k8s.io/kubernetes)"
etcd_version="$(required cluster/go.mod go.etcd.io/etcd/server/v3)"
[ -n "$kube_version" ] && [ -n "$etcd_version" ] || {
  echo "cluster/go.mod must require k8s.io/kubernetes and go.etcd.io/etcd/server/v3" >&2
  exit 1
}
cluster_out="$cache/kubernetes-$kube_version-etcd-$etcd_version"
minor="${kube_version#v1.}"
minor="${minor%%.*}"
kube_ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  kube_ldflags+=" -X $pkg.gitVersion=$kube_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
done
cluster_hash="$( (cat cluster/go.mod cluster/go.sum cluster/etcd/*.go; echo "$kube_ldflags") | sha256sum | cut -c1-16)"
if [ "$(cat "$cluster_out/.src" 2>/dev/null)" != "$cluster_hash" ]; then
  start=$SECONDS
  echo "building etcd $etcd_version, kube-apiserver, kube-controller-manager, kube-scheduler $kube_version and kwok" >&2
  scratch="$(mktemp -d)"
  (cd cluster && nice -n 10 go build -ldflags "$kube_ldflags" -o "$scratch/" ./etcd \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler sigs.k8s.io/kwok/cmd/kwok)
  mkdir -p "$cluster_out"
  mv "$scratch"/* "$cluster_out/"
  rm -rf "$scratch"
  echo "$cluster_hash" >"$cluster_out/.src"
  echo "built the control plane in $((SECONDS - start))s" >&2
fi

# kwok's Stages (what a simulated node and its Pods go through), from the kwok module itself:
# the node is initialised and kept alive, each Pod becomes Ready, completes and is deleted.
stages="$cluster_out/kwok-stages.yaml"
if [ ! -f "$stages" ]; then
  kwok_dir="$(cd cluster && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)"
  for stage in node/fast/node-initialize node/heartbeat/node-heartbeat pod/fast/pod-ready \
    pod/fast/pod-complete pod/fast/pod-delete; do
    cat "$kwok_dir/kustomize/stage/$stage.yaml"
    echo "---"
  done >"$stages.tmp"
  mv "$stages.tmp" "$stages"
fi

# kube-state-metrics of the pinned image, which the tier runs against the plane.
kube_state_metrics="$(bash "$engine/kube-state-metrics.sh")"

"$out/pulumi" version >&2
echo "$out/pulumi"
echo "$out/pulumi-language-python"
echo "$out/pulumi-language-python-exec"
echo "$plugin"
echo "$cluster_out/etcd"
echo "$cluster_out/kube-apiserver"
echo "$cluster_out/kube-controller-manager"
echo "$cluster_out/kube-scheduler"
echo "$cluster_out/kwok"
echo "$stages"
echo "$kube_state_metrics"
