#!/usr/bin/env bash
# Builds tenantctl's container images into the Docker engine that `docker` talks to
# (DOCKER_HOST), locally: no image is ever pulled from a registry.
#
#   scripts/images.sh              tenant-app and tenantctl (static binaries, non-root)
#   scripts/images.sh --all        also postgres, redis, nginx and tenantctl-backup (tenantctl with the
#                                  PostgreSQL client tools, for the backup jobs) from Debian's packages
#   scripts/images.sh --print      print the image names the build tags, one per line
#   scripts/images.sh --version    print the version the images are tagged with
#
# Every image is tagged with tenantctl's version (internal/version: `tenantctl version`),
# the tag the binary's default config names. tenant-app and tenantctl are one static Go binary
# each on an empty filesystem, run as uid 65532 (no shell, no package manager). postgres,
# redis and nginx are for the test suite and a dev cluster where no registry is reachable:
# a minimal Debian root filesystem (debootstrap, from the mirror the host's apt uses) with
# the distribution's packages, cached per machine under ${TENANTCTL_IMAGES_CACHE:-
# ~/.cache/tenantctl/images}. They honour the data jobs' image contract (docs/jobspecs.md).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache="${TENANTCTL_IMAGES_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tenantctl/images}"
prefix="${TENANTCTL_IMAGE_PREFIX:-tenantctl}"
suite=bookworm

log() { printf 'images: %s\n' "$*" >&2; }
die() { printf 'images: error: %s\n' "$*" >&2; exit 1; }

version() {
  local v
  v=$(sed -n 's/^var Version = "\(.*\)"$/\1/p' "$repo/internal/version/version.go")
  [[ $v =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || die "no valid version in internal/version/version.go"
  echo "$v"
}

VERSION=$(version)
app_images=("$prefix/tenant-app:$VERSION" "$prefix/tenantctl:$VERSION")
data_images=("$prefix/postgres:$VERSION" "$prefix/redis:$VERSION" "$prefix/nginx:$VERSION" "$prefix/tenantctl-backup:$VERSION")

all=false
case "${1:-}" in
  "") ;;
  --all) all=true ;;
  --print) printf '%s\n' "${app_images[@]}" "${data_images[@]}"; exit 0 ;;
  --version) echo "$VERSION"; exit 0 ;;
  -h|--help) sed -n '2,17s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
  *) die "unknown argument $1 (try --help)" ;;
esac

command -v docker >/dev/null || die "no docker client on PATH"
docker version --format '{{.Server.Version}}' >/dev/null 2>&1 ||
  die "no Docker engine answers at ${DOCKER_HOST:-the default socket}; start dockerd or set DOCKER_HOST"

work=$(mktemp -d)
cleanup() {
  # A chroot's /proc must be unmounted before its tree is removed.
  if [[ -n "${mounted:-}" ]]; then umount "$mounted" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# import_file TARBALL TAG CHANGE...: the tarball as a one-layer image. The image carries the
# digest of the tarball and the changes as a label; an image of that tag with the same digest
# is kept as it is.
import_file() {
  local tarball=$1 tag=$2
  shift 2
  local digest have changes=()
  digest=$({ sha256sum <"$tarball"; printf '%s\n' "$@" "$VERSION"; } | sha256sum | cut -c1-64)
  have=$(docker image inspect --format '{{index .Config.Labels "org.tenantctl.content"}}' "$tag" 2>/dev/null || true)
  if [[ $have == "$digest" ]]; then
    log "up to date: $tag ($(size_of "$tag"))"
    return 0
  fi
  for c in "$@"; do changes+=(--change "$c"); done
  changes+=(--change "LABEL org.tenantctl.content=$digest org.opencontainers.image.version=$VERSION")
  docker import "${changes[@]}" --message "tenantctl $VERSION" "$tarball" "$tag" >/dev/null
  log "built $tag ($(size_of "$tag"))"
}

size_of() { docker image inspect --format '{{.Size}}' "$1" | awk '{printf "%.1f MB", $1/1e6}'; }

# import_dir DIR TAG CHANGE...: the directory, owned by root, as a one-layer image
# (a reproducible tarball: sorted, fixed times).
import_dir() {
  local dir=$1 tag=$2
  shift 2
  tar -C "$dir" --numeric-owner --owner=0 --group=0 --sort=name --mtime=@0 -cf "$dir.tar" .
  import_file "$dir.tar" "$tag" "$@"
}

# static_image CMD TAG: one static binary, /tmp, uid 65532.
static_image() {
  local cmd=$1 tag=$2 root="$work/$1"
  mkdir -p "$root/usr/local/bin" "$root/tmp" "$root/etc"
  chmod 1777 "$root/tmp"
  (cd "$repo" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$root/usr/local/bin/$cmd" "./cmd/$cmd")
  chmod 0755 "$root/usr/local/bin/$cmd"
  printf 'root:x:0:0:root:/:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/:/sbin/nologin\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnonroot:x:65532:\n' >"$root/etc/group"
  import_dir "$root" "$tag" \
    "ENV PATH=/usr/local/bin" \
    "USER 65532:65532" \
    "WORKDIR /" \
    "ENTRYPOINT [\"$cmd\"]"
}

static_image tenant-app "${app_images[0]}"
static_image tenantctl "${app_images[1]}"
$all || exit 0

# ---------------------------------------------------------------------------
# Data-service images from Debian's packages.

command -v debootstrap >/dev/null || die "debootstrap is not installed (apt-get install -y debootstrap)"
[[ $(id -u) == 0 ]] || die "building the Debian images needs root (debootstrap, chroot)"

# mirror: the first Debian mirror the host's apt is configured with.
mirror() {
  local m=""
  if [[ -f /etc/apt/sources.list.d/debian.sources ]]; then
    m=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
  fi
  if [[ -z $m && -f /etc/apt/sources.list ]]; then
    m=$(awk '$1 == "deb" && $0 !~ /security/ {print $2; exit}' /etc/apt/sources.list)
  fi
  [[ -n $m ]] || die "no Debian mirror found in /etc/apt/sources.list(.d); set TENANTCTL_DEBIAN_MIRROR"
  echo "$m"
}

mkdir -p "$cache/debs"
base_tar="$cache/$suite-minbase.tar"
if [[ ! -s $base_tar ]]; then
  log "debootstrap $suite (minbase; first time on this machine, a few minutes)"
  debootstrap --variant=minbase --cache-dir="$cache/debs" "$suite" "$work/base" \
    "${TENANTCTL_DEBIAN_MIRROR:-$(mirror)}" >"$work/debootstrap.log" 2>&1 ||
    { tail -20 "$work/debootstrap.log" >&2; die "debootstrap failed"; }
  tar -C "$work/base" --numeric-owner -cf "$base_tar.new" .
  mv "$base_tar.new" "$base_tar"
  rm -rf "$work/base"
fi

# trim_rootfs NAME ROOT: drops what the image never runs. Postgres: the LLVM JIT provider
# and its bitcode (about 130 MB; without them Postgres runs with JIT unavailable, as it does
# when jit = off).
trim_rootfs() {
  case $1 in
    postgres)
      rm -rf "$2"/usr/lib/postgresql/*/lib/bitcode "$2"/usr/lib/postgresql/*/lib/llvmjit* \
        "$2"/usr/lib/x86_64-linux-gnu/libLLVM-*.so*
      ;;
  esac
}

# debian_rootfs NAME PACKAGE...: the base with the packages installed, trimmed; cached as
# a tarball keyed by the package list, whose path it leaves in $rootfs_tar (not run in a
# subshell, so the EXIT trap sees a mounted /proc).
debian_rootfs() {
  local name=$1
  shift
  local tarball="$cache/$name-$(printf '%s ' "$@" "$(declare -f trim_rootfs)" | sha256sum | cut -c1-12).tar"
  if [[ ! -s $tarball ]]; then
    local root="$work/$name"
    mkdir -p "$root"
    tar -C "$root" -xf "$base_tar"
    # No service starts in the chroot, and postgresql-common makes no cluster.
    printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
    chmod 0755 "$root/usr/sbin/policy-rc.d"
    mkdir -p "$root/etc/postgresql-common"
    echo 'create_main_cluster = false' >"$root/etc/postgresql-common/createcluster.conf"
    cp /etc/resolv.conf "$root/etc/resolv.conf"
    mount -t proc proc "$root/proc"
    mounted="$root/proc"
    log "installing $* into a $suite root filesystem"
    chroot "$root" sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null' sh "$@" \
      >"$work/$name.log" 2>&1 || { tail -20 "$work/$name.log" >&2; die "apt-get install $* failed"; }
    umount "$root/proc"
    mounted=""
    rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* "$root"/usr/share/doc/* \
      "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/var/log/* "$root/usr/sbin/policy-rc.d"
    trim_rootfs "$name" "$root"
    find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name 'en*' -exec rm -rf {} + 2>/dev/null || true
    : >"$root/etc/resolv.conf"
    tar -C "$root" --numeric-owner -cf "$tarball.new" .
    mv "$tarball.new" "$tarball"
    rm -rf "$root"
    # Root filesystems of an earlier package list or trim are of no further use.
    find "$cache" -maxdepth 1 -name "$name-*.tar" ! -name "${tarball##*/}" -delete
  fi
  rootfs_tar=$tarball
}

path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
debian_rootfs postgres postgresql-15
import_file "$rootfs_tar" "${data_images[0]}" "ENV PATH=/usr/lib/postgresql/15/bin:$path" "ENV LANG=C.UTF-8" \
  "CMD [\"postgres\"]"
debian_rootfs redis redis-server
import_file "$rootfs_tar" "${data_images[1]}" "ENV PATH=$path" "CMD [\"redis-server\"]"
debian_rootfs nginx nginx-light
import_file "$rootfs_tar" "${data_images[2]}" "ENV PATH=$path" "CMD [\"nginx\", \"-g\", \"daemon off;\"]"

# The backup jobs' image: tenantctl (the static binary built above) and the PostgreSQL 15
# client tools (pg_dump, pg_restore, psql), run as uid 65532 like tenantctl's.
debian_rootfs backup postgresql-client-15
backup_root="$work/backup-image"
mkdir -p "$backup_root"
tar -C "$backup_root" -xf "$rootfs_tar"
install -m 0755 "$work/tenantctl/usr/local/bin/tenantctl" "$backup_root/usr/local/bin/tenantctl"
grep -q '^nonroot:' "$backup_root/etc/passwd" || echo 'nonroot:x:65532:65532:nonroot:/:/usr/sbin/nologin' >>"$backup_root/etc/passwd"
grep -q '^nonroot:' "$backup_root/etc/group" || echo 'nonroot:x:65532:' >>"$backup_root/etc/group"
import_dir "$backup_root" "${data_images[3]}" "ENV PATH=/usr/lib/postgresql/15/bin:$path" "ENV LANG=C.UTF-8" \
  "USER 65532:65532" "WORKDIR /" "ENTRYPOINT [\"tenantctl\"]"
