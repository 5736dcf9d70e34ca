#!/usr/bin/env bash
# Obtain a kube-apiserver, etcd and kube-controller-manager for the tests, envtest-style, and print the directory.
#
#   1. KUBEBUILDER_ASSETS names a directory holding kube-apiserver and etcd (setup-envtest, any version): use it.
#   2. Else the cache ($KUBETUNE_CONTROL_PLANE_CACHE, default ~/.cache/kubetune/control-plane-1.20.2) holds a
#      finished build: use it.
#   3. Else build Kubernetes 1.20.2 offline from Debian bookworm's `kubernetes` source package (upstream tree with
#      vendor/) with Go 1.15 (Debian bullseye's golang-1.15 packages, unpacked, never installed), and etcd from
#      Debian's etcd-server. About 5 minutes on 2 cores from an empty cache; 1.2 GB of Go build cache.
#
# Why Go 1.15 and not a newer one: since Go 1.16 reflect.Zero returns a shared zero buffer and the vendored
# kube-openapi validator then judges every "" in a custom resource to be null (kubernetes#99804, fixed in 1.21):
# a server built with a newer Go refuses what a real 1.20 cluster accepts. 1.20 was released with Go 1.15.
#
# Only the last line of stdout is the directory; progress goes to stderr.
set -euo pipefail

say() { echo "[control-plane] $*" >&2; }

has_assets() { [ -x "$1/kube-apiserver" ] && [ -x "$1/etcd" ]; }

if [ -n "${KUBEBUILDER_ASSETS:-}" ]; then
  has_assets "$KUBEBUILDER_ASSETS" || { say "KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS holds no kube-apiserver and etcd"; exit 1; }
  echo "$KUBEBUILDER_ASSETS"; exit 0
fi

CACHE=${KUBETUNE_CONTROL_PLANE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kubetune/control-plane-1.20.2}
BIN=$CACHE/bin
if has_assets "$BIN" && [ -x "$BIN/kube-controller-manager" ] && [ -f "$BIN/.complete" ]; then
  echo "$BIN"; exit 0
fi

# Debian bookworm's source package of Kubernetes 1.20.2 (the full upstream tree, vendor/ included).
SRC_VERSION=1.20.5+really1.20.2-1.1+deb12u1
SRC_TARBALL=kubernetes_1.20.5+really1.20.2.orig.tar.gz
SRC_SHA256=b83c0780efb182d928dc63d46488a847f161f04e40a94b96bf5247dd671ecdfc
# Go 1.15 from Debian bullseye (the Go line Kubernetes 1.20 was released with).
GO_VERSION=1.15.15-1~deb11u4
GO_ROOT=$CACHE/go/usr/lib/go-1.15
SRC=$CACHE/kubernetes-1.20.2
APT=$CACHE/apt
SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
start=$(date +%s)

archive() {   # the Debian archive this machine already uses (deb822 sources first, then sources.list)
  local uri=
  if [ -r /etc/apt/sources.list.d/debian.sources ]; then
    uri=$(awk 'BEGIN { RS = ""; FS = "\n" }
      { t = u = s = ""
        for (i = 1; i <= NF; i++) { if ($i ~ /^Types:/) t = $i; if ($i ~ /^URIs:/) u = $i; if ($i ~ /^Suites:/) s = $i }
        if (t ~ /[ \t]deb([ \t]|$)/ && s !~ /-security/ && u != "") { sub(/^URIs:[ \t]*/, "", u); split(u, a, /[ \t]+/); print a[1]; exit } }' \
      /etc/apt/sources.list.d/debian.sources)
  fi
  if [ -z "$uri" ] && [ -r /etc/apt/sources.list ]; then
    uri=$(awk '$1 == "deb" && $0 !~ /security/ { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' /etc/apt/sources.list)
  fi
  [ -n "$uri" ] || { say "no Debian archive in /etc/apt"; return 1; }
  echo "${uri%/}"
}

apt_private() {   # apt with a private source list and state under $APT: nothing is added to /etc/apt
  local tool=$1; shift
  "$tool" -o Dir::Etc::sourcelist="$APT/sources.list" -o Dir::Etc::sourceparts=- \
    -o Dir::State::Lists="$APT/lists" -o Dir::State::status=/dev/null \
    -o Dir::Cache::archives="$APT/archives" -o Dir::Cache::pkgcache="$APT/pkgcache.bin" \
    -o Dir::Cache::srcpkgcache="$APT/srcpkgcache.bin" -o APT::Sandbox::User=root "$@"
}

apt_lists() {
  [ -f "$APT/lists/.done" ] && return 0
  local uri keyring=/usr/share/keyrings/debian-archive-keyring.gpg
  uri=$(archive)
  mkdir -p "$APT/lists/partial" "$APT/archives/partial"
  printf 'deb [signed-by=%s] %s bullseye main\ndeb-src [signed-by=%s] %s bookworm main\n' \
    "$keyring" "$uri" "$keyring" "$uri" > "$APT/sources.list"
  say "apt-get update (private lists: bullseye for Go 1.15, bookworm sources)"
  apt_private apt-get -qq update >&2
  touch "$APT/lists/.done"
}

system_packages() {   # etcd (Debian's etcd-server 3.4), openssl for the service-account keys
  local need=()
  command -v etcd >/dev/null || need+=(etcd-server)
  command -v openssl >/dev/null || need+=(openssl)
  [ ${#need[@]} -eq 0 ] && return 0
  say "apt-get install ${need[*]}"
  $SUDO apt-get update -qq >&2
  # The image's policy-rc.d keeps the etcd-server package from starting a system etcd; stop one if it did.
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
  $SUDO systemctl disable --now etcd >/dev/null 2>&1 || true
}

go_toolchain() {
  [ -x "$GO_ROOT/bin/go" ] && return 0
  apt_lists
  mkdir -p "$CACHE/debs" "$CACHE/go"
  say "downloading golang-1.15-go and golang-1.15-src $GO_VERSION"
  (cd "$CACHE/debs" && apt_private apt-get -qq download "golang-1.15-src=$GO_VERSION" "golang-1.15-go=$GO_VERSION" >&2)
  local deb
  for deb in "$CACHE"/debs/golang-1.15-*.deb; do dpkg-deb -x "$deb" "$CACHE/go"; done
}

kubernetes_source() {
  [ -f "$SRC/cmd/kube-apiserver/apiserver.go" ] && return 0
  mkdir -p "$CACHE/src"
  if [ ! -f "$CACHE/src/$SRC_TARBALL" ]; then
    apt_lists
    say "apt-get source --download-only kubernetes=$SRC_VERSION"
    (cd "$CACHE/src" && apt_private apt-get -qq source --download-only "kubernetes=$SRC_VERSION" >&2)
  fi
  echo "$SRC_SHA256  $CACHE/src/$SRC_TARBALL" | sha256sum -c --quiet - || { say "$SRC_TARBALL: checksum mismatch"; exit 1; }
  say "extracting $SRC_TARBALL"
  tar xzf "$CACHE/src/$SRC_TARBALL" -C "$CACHE"
}

openapi_definitions() {
  # pkg/generated/openapi/zz_generated.openapi.go is produced by upstream's `make` and missing from the tarball
  # (kube-apiserver: "undefined: openapi.GetOpenAPIDefinitions"). Generate it with upstream's inputs
  # (build/root/Makefile.generated_files).
  local out=$SRC/pkg/generated/openapi/zz_generated.openapi.go inputs
  [ -s "$out" ] && return 0
  say "generating the OpenAPI definitions"
  cd "$GOPATH/src/k8s.io/kubernetes"
  go build -o "$CACHE/openapi-gen" ./vendor/k8s.io/kube-openapi/cmd/openapi-gen
  inputs=$(find -H . -not \( \( -path './_*' -o -path './.*' -o -path ./vendor \) -prune \) -type f -name '*.go' \
      | sed 's|^./staging/src|vendor|; s|^\./||' \
      | xargs grep -l '^// *+k8s:' | xargs grep -l '+k8s:openapi-gen=' \
      | grep -v -e '^vendor/k8s.io/code-generator/' -e '^vendor/k8s.io/sample-apiserver/' \
      | xargs -n1 dirname | LC_ALL=C sort -u | sed 's|^|k8s.io/kubernetes/|' | paste -sd, -)
  "$CACHE/openapi-gen" --logtostderr -i "$inputs" -p k8s.io/kubernetes/pkg/generated/openapi \
    -O zz_generated.openapi -h vendor/k8s.io/code-generator/hack/boilerplate.go.txt \
    -r "$CACHE/openapi-violations.report" 2> "$CACHE/openapi-gen.log"
  cd - >/dev/null
}

system_packages
go_toolchain
kubernetes_source

# GOPATH mode with vendor/ as is, as 1.20's own hack/ scripts build; GOPROXY=off: nothing is downloaded.
export GOROOT=$GO_ROOT PATH=$GO_ROOT/bin:$PATH GOPATH=$CACHE/gopath GOCACHE=$CACHE/gocache
export GO111MODULE=off GOFLAGS= GOPROXY=off CGO_ENABLED=0
unset GOTOOLCHAIN GOEXPERIMENT
mkdir -p "$GOPATH/src/k8s.io" "$BIN"
[ -L "$GOPATH/src/k8s.io/kubernetes" ] || ln -s "$SRC" "$GOPATH/src/k8s.io/kubernetes"
openapi_definitions

# Version stamps as hack/lib/version.sh sets them (else the server says v0.0.0-master and Helm's kubeVersion
# checks misjudge it).
ldflags="-s -w"
for pkg in k8s.io/kubernetes/vendor/k8s.io/component-base/version k8s.io/kubernetes/vendor/k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=v1.20.2 -X $pkg.gitMajor=1 -X $pkg.gitMinor=20 -X $pkg.gitTreeState=clean"
  ldflags+=" -X $pkg.gitCommit=faecb196815e248d3ecfb03c680a4507229c2a56 -X $pkg.buildDate=2021-01-13T13:20:00Z"
done
for cmd in kube-apiserver kube-controller-manager; do
  [ -x "$BIN/$cmd" ] && continue
  t=$(date +%s)
  say "building $cmd with $(go version | cut -d' ' -f3)"
  (cd "$GOPATH/src/k8s.io/kubernetes" && go build -p "$(nproc)" -trimpath -ldflags "$ldflags" -o "$BIN/$cmd.tmp" "./cmd/$cmd")
  mv "$BIN/$cmd.tmp" "$BIN/$cmd"
  say "built $cmd in $(( $(date +%s) - t )) s"
done
ln -sf "$(command -v etcd)" "$BIN/etcd"
# How long this build took from what the cache held (bench/controlplane.py reports it).
echo "$(( $(date +%s) - start ))" > "$CACHE/build-seconds"
touch "$BIN/.complete"
say "control plane ready in $(( $(date +%s) - start )) s"
echo "$BIN"
