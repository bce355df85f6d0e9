#!/usr/bin/env bash
# Builds (once per machine) the real servers tenantctl's tests start: Vault, Consul and
# consul-template from the Go module proxy, cached outside the repository and keyed by
# version. Prints the directory that holds the binaries. Safe to run repeatedly and
# concurrently: each build happens in a scratch directory and is moved into place.
#
#   scripts/testservers.sh            build what is missing, print the bin directory
#   scripts/testservers.sh --print    print the bin directory only
set -euo pipefail

VAULT_VERSION=v1.13.0
CONSUL_VERSION=v1.14.11
CONSUL_TEMPLATE_VERSION=v0.42.1

cache="${TENANTCTL_TESTSERVERS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tenantctl/testservers}"
bin="$cache/bin"
mkdir -p "$bin"

if [[ "${1:-}" == "--print" ]]; then
  echo "$bin"
  exit 0
fi

log() { echo "testservers: $*" >&2; }

# build_tool NAME VERSION SETUP_FUNCTION PACKAGE
build_tool() {
  local name=$1 version=$2 setup=$3 pkg=$4
  local target="$bin/$name-$version"
  if [[ -x "$target" ]]; then
    ln -sfn "$name-$version" "$bin/$name"
    return 0
  fi
  local work
  work=$(mktemp -d "$cache/build-$name.XXXXXX")
  log "building $name $version (first time on this machine; several minutes)"
  local start=$SECONDS
  (cd "$work" && "$setup" "$version" && go build -mod=mod -trimpath -o "$work/$name" "$pkg")
  mv -f "$work/$name" "$target"
  rm -rf "$work"
  ln -sfn "$name-$version" "$bin/$name"
  log "built $name $version in $((SECONDS - start))s"
}

setup_consul() {
  cat >go.mod <<MOD
module tenantctl.local/testservers/consul

go 1.21

require github.com/hashicorp/consul $1
MOD
  cat >tools.go <<'GO'
//go:build tools

package tools

import _ "github.com/hashicorp/consul"
GO
  go mod tidy >/dev/null
}

setup_vault() {
  # Vault's own go.mod replaces its api and sdk with local folders; reuse it
  # without those replaces (see shared/TESTSERVERS.md).
  local gomod
  gomod=$(go mod download -json "github.com/hashicorp/vault@$1" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')
  [[ -f "$gomod" ]] || { log "could not locate vault's go.mod"; return 1; }
  sed -e 's#^module .*#module tenantctl.local/testservers/vault#' \
      -e '/^replace .*=> \.\//d' \
      -e '/=> \.\//d' \
      -e '/^replace go\.etcd\.io\/etcd\/client\/pkg\/v3 v3\.5\.0 =>/d' \
      "$gomod" >go.mod
  printf '\nrequire github.com/hashicorp/vault %s\n' "$1" >>go.mod
  cat >tools.go <<'GO'
//go:build tools

package tools

import _ "github.com/hashicorp/vault"
GO
}

setup_consul_template() {
  cat >go.mod <<MOD
module tenantctl.local/testservers/consultemplate

go 1.21

require github.com/hashicorp/consul-template $1
MOD
  cat >tools.go <<'GO'
//go:build tools

package tools

import _ "github.com/hashicorp/consul-template"
GO
  go mod tidy >/dev/null
}

only="${1:-all}"
case "$only" in
  all)
    build_tool consul-template "$CONSUL_TEMPLATE_VERSION" setup_consul_template github.com/hashicorp/consul-template
    build_tool vault "$VAULT_VERSION" setup_vault github.com/hashicorp/vault
    build_tool consul "$CONSUL_VERSION" setup_consul github.com/hashicorp/consul
    ;;
  vault) build_tool vault "$VAULT_VERSION" setup_vault github.com/hashicorp/vault ;;
  consul) build_tool consul "$CONSUL_VERSION" setup_consul github.com/hashicorp/consul ;;
  consul-template) build_tool consul-template "$CONSUL_TEMPLATE_VERSION" setup_consul_template github.com/hashicorp/consul-template ;;
  *) log "unknown tool $only"; exit 2 ;;
esac
echo "$bin"
