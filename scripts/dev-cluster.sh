#!/usr/bin/env bash
# A local dev cluster for tenantctl's exec profile: Consul and Vault (the pinned builds of
# scripts/testservers.sh) and `nomad agent -dev` (Nomad 1.10 or newer, from your PATH), each
# in the background on its standard loopback port, then `tenantctl cluster init`, a
# tenantctl.hcl for the exec profile, and the nginx router job. See docs/dev-cluster.md.
#
#   scripts/dev-cluster.sh [up]              start what is not running (idempotent), print how to use it
#   scripts/dev-cluster.sh up --no-nomad     Consul and Vault only (no cluster init: it needs Nomad's JWKS)
#   scripts/dev-cluster.sh up --no-router    do not run the router job
#   scripts/dev-cluster.sh up --docker       the docker profile: a Docker engine (DOCKER_HOST, the default
#                                            socket, or a dockerd it starts), the images built locally by
#                                            scripts/images.sh --all, Nomad's docker driver, the nginx image router
#   scripts/dev-cluster.sh status            what runs, and the environment to use it
#   scripts/dev-cluster.sh stop [--purge]    stop everything it started; --purge also deletes the state dir
#
# State, logs and pid files live in ${TENANTCTL_DEV_DIR:-$HOME/.local/state/tenantctl-dev}.
# Progress goes to stderr; the usage text at the end goes to stdout. The Vault root token is
# only ever written to <state dir>/vault-root-token (mode 0600), never printed.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
state="${TENANTCTL_DEV_DIR:-$HOME/.local/state/tenantctl-dev}"
[[ $state == /* ]] || state="$PWD/$state"
logs="$state/logs"
token_file="$state/vault-root-token"
config_file="$state/tenantctl.hcl"
env_file="$state/env"
nomad_config="$state/nomad.hcl"
nomad_data="$state/nomad"
volumes="$state/volumes"
docker_config="$state/nomad-docker.hcl"
docker_sock="$state/docker.sock"
docker_bridge=docker0

consul_http=127.0.0.1:8500
vault_addr=http://127.0.0.1:8200
nomad_addr=http://127.0.0.1:4646
router_port="${TENANTCTL_DEV_ROUTER_PORT:-8080}"
router_tls_port="${TENANTCTL_DEV_ROUTER_TLS_PORT:-8443}"
router_job=tenantctl-router
nomad_min_major=1
nomad_min_minor=10

log() { printf 'dev-cluster: %s\n' "$*" >&2; }
warn() { printf 'dev-cluster: warning: %s\n' "$*" >&2; }
die() { printf 'dev-cluster: error: %s\n' "$*" >&2; exit 1; }

usage() {
  sed -n '2,15s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
}

# ---------------------------------------------------------------------------
# Processes: pid files, liveness, start and stop.

# pattern NAME: what the command line of our process of that name looks like.
pattern() {
  case $1 in
    consul) echo 'consul[^ ]* agent -dev' ;;
    vault) echo 'vault[^ ]* server -dev' ;;
    nomad) echo 'nomad[^ ]* agent -dev' ;;
    dockerd) echo 'dockerd .*--data-root' ;;
  esac
}

# pid_of NAME: prints the pid of our running process NAME; fails if there is none
# (no pid file, process gone, or the pid now belongs to another program).
pid_of() {
  local file="$state/$1.pid" pid
  [[ -f $file ]] || return 1
  pid=$(<"$file")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  ps -p "$pid" -o args= 2>/dev/null | grep -Eq -- "$(pattern "$1")" || return 1
  echo "$pid"
}

# start_bg NAME COMMAND...: starts COMMAND in its own session, output to logs/NAME.log
# (mode 0600: Vault's dev banner names its root token), pid in NAME.pid.
start_bg() {
  local name=$1 pidfile="$state/$1.pid" logfile="$logs/$1.log"
  shift
  rm -f "$pidfile"
  (umask 077 && : >"$logfile")
  local launcher=()
  command -v setsid >/dev/null && launcher=(setsid)
  # The child writes its own pid, then becomes COMMAND.
  # shellcheck disable=SC2016 # expanded by the child shell
  ${launcher[@]+"${launcher[@]}"} bash -c 'echo $$ >"$0" && exec "$@"' "$pidfile" "$@" \
    </dev/null >>"$logfile" 2>&1 &
  local i
  for ((i = 0; i < 50; i++)); do
    [[ -s $pidfile ]] && return 0
    sleep 0.1
  done
  die "$name did not start; see $logfile"
}

# show_log NAME: the end of NAME's log, without secrets.
show_log() {
  local file="$logs/$1.log"
  [[ -f $file ]] || return 0
  log "last lines of $file:"
  tail -n 25 "$file" | grep -Eiv 'root token|unseal key|VAULT_TOKEN' | sed 's/^/    /' >&2 || true
}

# wait_until NAME WHAT SECONDS CHECK...: runs CHECK until it succeeds, NAME's process
# exits, or SECONDS pass.
wait_until() {
  local name=$1 what=$2 secs=$3
  shift 3
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if ! pid_of "$name" >/dev/null; then
      show_log "$name"
      die "$name exited before $what"
    fi
    if ((SECONDS >= deadline)); then
      show_log "$name"
      die "$name: no $what after ${secs}s (still running; stop it with: $0 stop)"
    fi
    sleep 0.5
  done
}

# answers URL: true if anything answers HTTP at URL.
answers() { curl -s -o /dev/null --max-time 2 "$1"; }

# port_free NAME URL: fails when a process we did not start answers at URL.
port_free() {
  if answers "$2"; then
    die "something not started by this script answers at $2; stop it first (or, if it is the dev cluster of
    another state dir: TENANTCTL_DEV_DIR=<that dir> $0 stop), then run this again"
  fi
}

# preflight_ports: before anything is built or started, every port we need is ours or free.
preflight_ports() {
  pid_of consul >/dev/null || port_free consul "http://$consul_http/v1/status/leader"
  pid_of vault >/dev/null || port_free vault "$vault_addr/v1/sys/health"
  if [[ $with_nomad == yes ]]; then
    pid_of nomad >/dev/null || port_free nomad "$nomad_addr/v1/agent/health"
  fi
}

# stop_one NAME SIGNAL SECONDS: signals our process NAME and waits for it to exit,
# killing it after SECONDS.
stop_one() {
  local name=$1 sig=$2 secs=$3 pid
  if ! pid=$(pid_of "$name"); then
    log "$name: not running"
    rm -f "$state/$name.pid"
    return 0
  fi
  log "$name: stopping (pid $pid)"
  kill -s "$sig" "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + secs))
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      warn "$name did not exit within ${secs}s; killing it"
      kill -s KILL "$pid" 2>/dev/null || true
      sleep 1
      break
    fi
    sleep 0.5
  done
  rm -f "$state/$name.pid"
}

# ---------------------------------------------------------------------------
# Checks.

consul_ready() { curl -fsS --max-time 2 "http://$consul_http/v1/status/leader" | grep -q '[0-9]'; }
vault_ready() { curl -fsS --max-time 2 "$vault_addr/v1/sys/health" >/dev/null; }
# The token goes to curl on stdin (a config line), never on a command line.
vault_token_valid() {
  printf 'header = "X-Vault-Token: %s"\n' "$(<"$token_file")" |
    curl -fsS --max-time 2 -K - "$vault_addr/v1/auth/token/lookup-self" >/dev/null
}
nomad_ready() {
  curl -fsS --max-time 2 "$nomad_addr/v1/agent/health" >/dev/null &&
    curl -fsS --max-time 2 "$nomad_addr/v1/nodes" | grep -Eq '"Status": *"ready"' &&
    curl -fsS --max-time 2 "$nomad_addr/.well-known/jwks.json" | grep -q '"kid"'
}
# The client has fingerprinted Vault and Consul: jobs with vault blocks and Consul
# services are constrained on these attributes.
nomad_fingerprinted() {
  local attrs
  attrs=$(NOMAD_ADDR=$nomad_addr nomad node status -self -verbose 2>/dev/null) &&
    grep -q 'vault\.version' <<<"$attrs" && grep -q 'consul\.version' <<<"$attrs"
}

no_nomad_help() {
  cat >&2 <<'EOF'
dev-cluster: error: Nomad is not installed: there is no `nomad` on PATH. The dev cluster needs Nomad 1.10 or newer.

Install it from HashiCorp:
  - a release binary: https://releases.hashicorp.com/nomad/ (unzip `nomad` into a directory on PATH), or
  - HashiCorp's package repository, on Debian or Ubuntu:
      wget -O- https://apt.releases.hashicorp.com/gpg | sudo gpg --dearmor -o /usr/share/keyrings/hashicorp-archive-keyring.gpg
      echo "deb [signed-by=/usr/share/keyrings/hashicorp-archive-keyring.gpg] https://apt.releases.hashicorp.com $(lsb_release -cs) main" \
        | sudo tee /etc/apt/sources.list.d/hashicorp.list
      sudo apt-get update && sudo apt-get install nomad
    (other systems: https://developer.hashicorp.com/nomad/install).

The tests need no Nomad: `go tool task test` uses the in-repo Nomad double (internal/nomadtest).
Consul and Vault alone, for `render` and `cluster init --dry-run`: `go tool task dev -- --no-nomad`.
EOF
  exit 1
}

check_nomad_version() {
  local out major minor
  out=$(nomad version 2>/dev/null) || die "\`nomad version\` failed"
  out=${out%%$'\n'*}
  if [[ $out =~ v([0-9]+)\.([0-9]+) ]]; then
    major=${BASH_REMATCH[1]} minor=${BASH_REMATCH[2]}
  else
    die "cannot read the version from \`nomad version\`: $out"
  fi
  if ((major < nomad_min_major || (major == nomad_min_major && minor < nomad_min_minor))); then
    die "$out is too old: the dev cluster needs Nomad $nomad_min_major.$nomad_min_minor or newer (its vault block uses workload identities); see https://releases.hashicorp.com/nomad/"
  fi
  log "using $out ($(command -v nomad))"
}

# check_traversal USER DIR: the exec profile's Postgres runs as USER, which must be able
# to reach DIR (Nomad's alloc dirs and the tenants' data dirs are below it).
check_traversal() {
  local user=$1 dir=$2
  if ! id "$user" >/dev/null 2>&1; then
    warn "there is no user $user (install postgresql): the exec profile's Postgres cannot run"
    return 0
  fi
  if ((EUID != 0)); then
    warn "not running as root: Nomad's raw_exec cannot run Postgres as $user; run this as root for \`tenantctl up --profile exec\`"
    return 0
  fi
  command -v runuser >/dev/null || return 0
  runuser -u "$user" -- test -x "$dir" && return 0
  # Name every directory on the way that others may not enter (its mode lacks o+x).
  local d=$dir blocked=() mode
  while [[ $d != / ]]; do
    mode=$(stat -c '%A' "$d" 2>/dev/null) || mode=
    if [[ -n $mode && ${mode:9:1} != [xt] && $(stat -c '%U' "$d") != "$user" ]]; then
      blocked=("$d (${mode:1})" ${blocked[@]+"${blocked[@]}"})
    fi
    d=$(dirname "$d")
  done
  die "the $user user cannot reach $dir: it may not enter ${blocked[*]}.
    Nomad's raw_exec Postgres task runs as $user and fails with \"fork/exec /bin/sh: permission denied\".
    Use a state dir it can reach:  TENANTCTL_DEV_DIR=/var/lib/tenantctl-dev go tool task dev
    (or allow traversal: chmod o+x <dir>)"
}

# newest_postgres_bin: the newest /usr/lib/postgresql/<version>/bin with initdb and postgres.
newest_postgres_bin() {
  local d
  for d in /usr/lib/postgresql/*/bin; do
    [[ -x $d/initdb && -x $d/postgres ]] && echo "$d"
  done | sort -V | tail -n 1
}

# ---------------------------------------------------------------------------
# Up.

build_binaries() {
  log "building bin/tenantctl"
  (cd "$repo" && go build -o bin/ ./cmd/tenantctl) ||
    die "bin/tenantctl does not build (go build ./cmd/tenantctl); fix the build and run this again"
  if [[ ! -d $repo/cmd/tenant-app ]]; then
    warn "cmd/tenant-app does not exist yet: no bin/tenant-app, so the app and worker jobs of \`tenantctl up\` cannot start"
    return 0
  fi
  log "building bin/tenant-app"
  if ! (cd "$repo" && go build -o bin/ ./cmd/tenant-app); then
    warn "cmd/tenant-app does not build yet: no new bin/tenant-app, so the app and worker jobs may not start"
  fi
}

ensure_consul() {
  local pid
  if pid=$(pid_of consul); then
    wait_until consul "leader" 30 consul_ready
    log "consul: already running (pid $pid) at http://$consul_http"
    return 0
  fi
  port_free consul "http://$consul_http/v1/status/leader"
  log "consul: starting $("$servers/consul" version | head -n 1) at http://$consul_http"
  start_bg consul "$servers/consul" agent -dev -node=tenantctl-dev -bind=127.0.0.1 -client=127.0.0.1 \
    -http-port=8500
  wait_until consul "leader" 60 consul_ready
  started+=(consul)
}

ensure_vault() {
  local pid
  if pid=$(pid_of vault); then
    [[ -s $token_file ]] || die "Vault runs (pid $pid) but its root token file $token_file is gone; run: $0 stop, then this again"
    wait_until vault "unsealed server" 30 vault_ready
    vault_token_valid || die "the token in $token_file is not valid for the running Vault; run: $0 stop, then this again"
    log "vault: already running (pid $pid) at $vault_addr"
    return 0
  fi
  port_free vault "$vault_addr/v1/sys/health"
  # A new Vault has none of the secrets an earlier dev cluster's tenants were created
  # with, so their data directories cannot be used again.
  if [[ -d $volumes ]] && [[ -n $(ls -A "$volumes") ]]; then
    log "removing the tenants' data of an earlier dev cluster ($volumes): its Vault secrets are gone"
    rm -rf "$volumes"
  fi
  local token
  token=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
  (umask 077 && printf '%s\n' "$token" >"$token_file")
  chmod 0600 "$token_file"
  log "vault: starting $("$servers/vault" version) at $vault_addr (root token in $token_file)"
  # The token reaches Vault through its environment, not its command line; with
  # -dev-no-store-token Vault does not write ~/.vault-token.
  (
    export VAULT_DEV_ROOT_TOKEN_ID=$token
    unset VAULT_TOKEN VAULT_ADDR
    start_bg vault "$servers/vault" server -dev -dev-no-store-token -dev-listen-address=127.0.0.1:8200
  )
  unset token
  wait_until vault "unsealed server" 60 vault_ready
  vault_token_valid || die "Vault does not accept the root token in $token_file"
  started+=(vault)
}

ensure_nomad() {
  local pid
  if pid=$(pid_of nomad); then
    wait_until nomad "ready node and JWKS" 60 nomad_ready
    log "nomad: already running (pid $pid) at $nomad_addr"
    if [[ $docker == yes ]] && ! NOMAD_ADDR=$nomad_addr nomad node status -self -verbose 2>/dev/null | grep -Eq 'driver\.docker +(= +)?1'; then
      warn "the running Nomad agent has no healthy docker driver; restart the dev cluster with --docker: $0 stop, then $0 up --docker"
    fi
    return 0
  fi
  port_free nomad "$nomad_addr/v1/agent/health"
  # -dev keeps the server's state in memory: a client state dir left by an earlier
  # agent would only describe allocations the new server never heard of.
  if [[ -d $nomad_data ]]; then
    rm -rf "$nomad_data" 2>/dev/null ||
      die "cannot remove $nomad_data of an earlier agent (a leftover mount? see: grep $nomad_data /proc/mounts)"
  fi
  mkdir -p "$nomad_data"
  chmod 0755 "$nomad_data"
  local text
  text=$(<"$repo/scripts/dev/nomad.hcl")
  text=${text//@DATA_DIR@/$nomad_data}
  text=${text//@CONSUL_ADDR@/$consul_http}
  text=${text//@VAULT_ADDR@/$vault_addr}
  [[ $text != *@[A-Z_]*@* ]] || die "scripts/dev/nomad.hcl has a placeholder this script does not fill"
  printf '%s\n' "$text" >"$nomad_config"
  local configs=(-config="$nomad_config")
  if [[ $docker == yes ]]; then
    text=$(<"$repo/scripts/dev/nomad-docker.hcl")
    text=${text//@DOCKER_ENDPOINT@/$DOCKER_HOST}
    text=${text//@BRIDGE@/$docker_bridge}
    text=${text//@BACKUPS_DIR@/$state/backups}
    mkdir -p "$state/backups" && chown 65532:65532 "$state/backups" 2>/dev/null || chmod 0777 "$state/backups"
    [[ $text != *@[A-Z_]*@* ]] || die "scripts/dev/nomad-docker.hcl has a placeholder this script does not fill"
    printf '%s\n' "$text" >"$docker_config"
    configs+=(-config="$docker_config")
  fi
  log "nomad: starting at $nomad_addr (config ${configs[*]#-config=})"
  (
    # With workload identities the agent needs no Vault or Nomad token.
    unset VAULT_TOKEN NOMAD_TOKEN NOMAD_ADDR
    start_bg nomad "$(command -v nomad)" agent -dev "${configs[@]}"
  )
  wait_until nomad "ready node and JWKS" 90 nomad_ready
  started+=(nomad)
  local deadline=$((SECONDS + 30))
  until nomad_fingerprinted; do
    if ((SECONDS >= deadline)); then
      warn "the Nomad client has not fingerprinted Vault and Consul after 30s; jobs with vault blocks will not be placed until it does (see $logs/nomad.log)"
      break
    fi
    sleep 1
  done
}

# docker_answers: the engine DOCKER_HOST (or the default socket) names answers.
docker_answers() { docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

# ensure_docker: a Docker engine for the docker profile, exported as DOCKER_HOST: ours
# if it runs, else the one DOCKER_HOST or the default socket names, else a dockerd
# started here with its data, exec root and socket in the state dir.
ensure_docker() {
  command -v docker >/dev/null || die "--docker needs the docker client (apt-get install docker.io)"
  local pid
  if pid=$(pid_of dockerd); then
    export DOCKER_HOST="unix://$docker_sock"
    wait_until dockerd "engine answering" 30 docker_answers
    log "docker: already running (pid $pid) at $DOCKER_HOST"
    return 0
  fi
  if docker_answers; then
    log "docker: using the engine at ${DOCKER_HOST:-the default socket} ($(docker version --format '{{.Server.Version}}'))"
    export DOCKER_HOST=${DOCKER_HOST:-unix:///var/run/docker.sock}
    return 0
  fi
  [[ ${DOCKER_HOST:-} == "" || ${DOCKER_HOST:-} == unix://* ]] || die "DOCKER_HOST=${DOCKER_HOST:-} does not answer"
  ((EUID == 0)) || die "no Docker engine answers and starting dockerd needs root"
  command -v dockerd >/dev/null || die "no Docker engine answers and dockerd is not installed (apt-get install docker.io)"
  # Only one engine can own the default bridge (which outlives its engine, so
  # look for the process, never to signal it).
  local other
  if other=$(pgrep -x dockerd | head -n 1) && [[ -n $other ]]; then
    die "no Docker engine answers at ${DOCKER_HOST:-the default socket}, but a dockerd runs (pid $other): set DOCKER_HOST to its socket"
  fi
  mkdir -p "$state/docker"
  export DOCKER_HOST="unix://$docker_sock"
  log "docker: starting dockerd at $DOCKER_HOST (data root $state/docker)"
  start_bg dockerd "$(command -v dockerd)" --data-root "$state/docker" --exec-root "$state/docker-run" \
    --pidfile "$state/docker-run.pid" --host "$DOCKER_HOST"
  wait_until dockerd "engine answering" 60 docker_answers
  wait_until dockerd "bridge $docker_bridge" 30 ip link show "$docker_bridge"
  started+=(dockerd)
}

# build_images: every image the docker profile and its router name, built locally (no pull).
build_images() {
  log "building the images (scripts/images.sh --all; the first run debootstraps Debian, a few minutes)"
  bash "$repo/scripts/images.sh" --all || die "scripts/images.sh --all failed (above)"
  mapfile -t images < <(bash "$repo/scripts/images.sh" --print)
  ((${#images[@]} == 6)) || die "scripts/images.sh --print: want 6 image names"
}

write_config() {
  if [[ $docker == yes ]]; then
    write_docker_config
    return 0
  fi
  local pg_bin redis nginx_line=''
  pg_bin=$(newest_postgres_bin)
  redis=$(command -v redis-server || true)
  [[ -n $pg_bin ]] || warn "no PostgreSQL in /usr/lib/postgresql/*/bin (Debian package postgresql); tenantctl.hcl keeps the default postgres_bin_dir"
  [[ -n $redis ]] || warn "no redis-server on PATH (Debian package redis-server); tenantctl.hcl keeps the default redis_server"
  [[ -x $repo/bin/tenant-app ]] || warn "no $repo/bin/tenant-app yet; tenantctl.hcl names it anyway"
  if [[ $router == yes ]]; then
    nginx_line="router_address = \"127.0.0.1:$router_port\"   # the router job's HTTP port; tenantctl up probes it"
  else
    nginx_line='# router_address unset: no router job, so tenantctl up skips the Host-header probe'
  fi
  mkdir -p "$volumes"
  chmod 0755 "$volumes"
  {
    echo "# tenantctl.hcl of the local dev cluster, written by scripts/dev-cluster.sh on every run"
    echo "# (copy it elsewhere to keep edits). Host binaries found on $(hostname) on $(date -u +%F)."
    echo 'profile = "exec"'
    echo "$nginx_line"
    echo
    echo 'exec {'
    if [[ -n $pg_bin ]]; then echo "  postgres_bin_dir = \"$pg_bin\""; fi
    echo '  postgres_user    = "postgres"'
    if [[ -n $redis ]]; then echo "  redis_server     = \"$redis\""; fi
    echo "  tenant_app       = \"$repo/bin/tenant-app\""
    echo "  tenantctl        = \"$repo/bin/tenantctl\""
    echo "  data_dir         = \"$volumes\""
    if id nobody >/dev/null 2>&1; then
      echo '  app_user         = "nobody"   # the app and worker run as this user (never root)'
      echo "  app_uid          = $(id -u nobody)"
      echo "  app_gid          = $(id -g nobody)"
    fi
    echo '}'
  } >"$config_file"
  log "wrote $config_file"
}

write_docker_config() {
  {
    echo "# tenantctl.hcl of the local dev cluster (docker profile), written by scripts/dev-cluster.sh"
    echo "# on every run (copy it elsewhere to keep edits). Images built by scripts/images.sh --all."
    echo 'profile = "docker"'
    if [[ $router == yes ]]; then
      echo "router_address = \"127.0.0.1:$router_port\"   # the router job's HTTP port; tenantctl up probes it"
    fi
    echo
    echo 'docker {'
    echo "  app_image       = \"${images[0]}\""
    echo "  tenantctl_image = \"${images[1]}\""
    echo "  postgres_image  = \"${images[2]}\""
    echo "  redis_image     = \"${images[3]}\""
    echo "  backup_image    = \"${images[5]}\""
    echo '}'
  } >"$config_file"
  log "wrote $config_file"
}

# tenantctl ARGS...: the freshly built tenantctl against the dev cluster.
tenantctl() {
  (
    export NOMAD_ADDR=$nomad_addr CONSUL_HTTP_ADDR=$consul_http VAULT_ADDR=$vault_addr
    export TENANTCTL_CONFIG=$config_file
    VAULT_TOKEN=$(<"$token_file")
    export VAULT_TOKEN
    unset NOMAD_TOKEN CONSUL_HTTP_TOKEN
    "$repo/bin/tenantctl" "$@"
  )
}

cluster_init() {
  if [[ $with_nomad == yes ]]; then
    log "running: tenantctl cluster init"
    tenantctl cluster init >&2 || die "tenantctl cluster init failed (above)"
    return 0
  fi
  log "no Nomad, so no cluster init: Vault fetches Nomad's JWKS (<nomad>/.well-known/jwks.json) when the jwt"
  log "auth mount is configured. What it would do with Nomad at $nomad_addr:"
  tenantctl cluster init --dry-run --nomad-jwks-url "$nomad_addr/.well-known/jwks.json" >&2 ||
    die "tenantctl cluster init --dry-run failed (above)"
}

ensure_router() {
  [[ $router == yes ]] || return 0
  if NOMAD_ADDR=$nomad_addr nomad job status -short "$router_job" >/dev/null 2>&1; then
    log "router: job $router_job already registered"
  elif [[ $docker == yes ]]; then
    log "router: running jobspecs/router.docker.nomad.hcl with ${images[4]} (http 127.0.0.1:$router_port)"
    NOMAD_ADDR=$nomad_addr nomad job run -detach -var "http_port=$router_port" \
      -var "https_port=$router_tls_port" -var "nginx_image=${images[4]}" "$repo/jobspecs/router.docker.nomad.hcl" >&2 ||
      die "nomad job run jobspecs/router.docker.nomad.hcl failed (above); run again with --no-router to skip it"
  else
    log "router: running jobspecs/router.exec.nomad.hcl (http 127.0.0.1:$router_port)"
    NOMAD_ADDR=$nomad_addr nomad job run -detach -var "http_port=$router_port" \
      -var "https_port=$router_tls_port" -var "nginx_binary=$nginx" "$repo/jobspecs/router.exec.nomad.hcl" >&2 ||
      die "nomad job run jobspecs/router.exec.nomad.hcl failed (above); run again with --no-router to skip it"
  fi
  local deadline=$((SECONDS + 60))
  until curl -fsS --max-time 2 "http://$consul_http/v1/health/checks/$router_job" | grep -Eq '"Status": *"passing"'; do
    if ((SECONDS >= deadline)); then
      warn "the router is not healthy in Consul after 60s (nomad job status $router_job); tenantctl up's routing check will fail until it is"
      return 0
    fi
    sleep 1
  done
  log "router: healthy at http://127.0.0.1:$router_port"
}

write_env() {
  {
    echo "# Environment of the tenantctl dev cluster: source this file."
    printf 'export NOMAD_ADDR=%q\n' "$nomad_addr"
    printf 'export CONSUL_HTTP_ADDR=%q\n' "$consul_http"
    printf 'export VAULT_ADDR=%q\n' "$vault_addr"
    # shellcheck disable=SC2016 # expanded when the file is sourced
    printf 'export VAULT_TOKEN="$(cat %q)"\n' "$token_file"
    printf 'export TENANTCTL_CONFIG=%q\n' "$config_file"
    if [[ $docker == yes ]]; then printf 'export DOCKER_HOST=%q\n' "$DOCKER_HOST"; fi
    # shellcheck disable=SC2016 # expanded when the file is sourced
    printf 'export PATH=%q:"$PATH"\n' "$repo/bin"
  } >"$env_file"
}

print_usage() {
  local host
  host="acme.tenants.localhost.test"
  echo
  if [[ $with_nomad == yes ]]; then
    echo "The tenantctl dev cluster is up (state, logs and pid files in $state)."
  else
    echo "Consul and Vault are up, without Nomad (state, logs and pid files in $state)."
  fi
  echo "Use it from a shell (or: source $env_file):"
  echo
  sed -n 's/^export /    export /p' "$env_file"
  echo
  if [[ $with_nomad == yes ]]; then
    if [[ $docker == yes ]]; then
      echo "    tenantctl up acme            # docker profile, images ${images[0]%%:*}:… built locally"
    else
      echo "    tenantctl up acme --profile exec"
    fi
    [[ $router == yes ]] && echo "    curl -H 'Host: $host' http://127.0.0.1:$router_port/api/health"
    echo
    echo "UIs: Nomad $nomad_addr/ui  Consul http://$consul_http/ui  Vault $vault_addr/ui"
  else
    echo "    tenantctl render acme --profile exec --out out/acme"
    echo
    echo "Without Nomad, \`tenantctl up\` cannot run and cluster init was not applied (see above)."
    echo "UIs: Consul http://$consul_http/ui  Vault $vault_addr/ui"
  fi
  echo "Stop it with: go tool task dev:stop   (scripts/dev-cluster.sh stop)"
}

cmd_up() {
  with_nomad=yes
  router=yes
  docker=no
  local arg
  for arg in "$@"; do
    case $arg in
      --no-nomad) with_nomad=no ;;
      --docker) docker=yes ;;
      --no-router) router=no ;;
      -h | --help) usage; exit 0 ;;
      *) die "unknown argument $arg (see $0 --help)" ;;
    esac
  done
  command -v curl >/dev/null || die "curl is needed (apt-get install curl)"
  command -v go >/dev/null || die "go is needed to build tenantctl"
  if [[ $with_nomad == yes ]]; then
    command -v nomad >/dev/null || no_nomad_help
    check_nomad_version
  else
    router=no
  fi
  [[ $docker == no || $with_nomad == yes ]] || die "--docker needs Nomad (drop --no-nomad)"
  nginx=$(command -v nginx || true)
  if [[ $router == yes && $docker == no && -z $nginx ]]; then
    warn "no nginx on PATH (Debian package nginx-light): no router job"
    router=no
  fi

  mkdir -p "$state" "$logs"
  chmod 0711 "$state"
  chmod 0700 "$logs"
  if [[ $with_nomad == yes ]]; then
    mkdir -p "$nomad_data"
    chmod 0755 "$nomad_data"
    check_traversal postgres "$nomad_data"
  fi

  preflight_ports
  build_binaries
  servers=$("$repo/scripts/testservers.sh" consul)
  servers=$("$repo/scripts/testservers.sh" vault)
  started=()
  if [[ $docker == yes ]]; then
    ensure_docker
    build_images
  fi
  ensure_consul
  ensure_vault
  [[ $with_nomad == yes ]] && ensure_nomad
  write_config
  write_env
  cluster_init
  [[ $with_nomad == yes ]] && ensure_router
  if ((${#started[@]} == 0)); then
    log "the dev cluster was already up; nothing started"
  else
    log "started: ${started[*]}"
  fi
  print_usage
}

cmd_status() {
  local name pid up=0
  for name in consul vault nomad dockerd; do
    if pid=$(pid_of "$name"); then
      echo "$name: running (pid $pid)"
      up=$((up + 1))
    else
      echo "$name: not running"
    fi
  done
  echo "state dir: $state"
  if ((up > 0)) && [[ -f $env_file ]]; then
    echo "environment (source $env_file):"
    sed -n 's/^export /    export /p' "$env_file"
  fi
}

cmd_stop() {
  local purge=no arg
  for arg in "$@"; do
    case $arg in
      --purge) purge=yes ;;
      -h | --help) usage; exit 0 ;;
      *) die "unknown argument $arg (see $0 --help)" ;;
    esac
  done
  if [[ ! -d $state ]]; then
    log "nothing to stop: no $state"
    return 0
  fi
  # Nomad first: in -dev mode it stops every allocation on the way out, and those
  # deregister from Consul and revoke Vault leases.
  stop_one nomad INT 90
  # A dockerd this script started (its data root, with the images, stays unless --purge).
  stop_one dockerd TERM 60
  # dockerd leaves its default network namespace mounted under its exec root.
  local m
  for m in $(awk -v d="$state/" 'index($2, d) == 1 {print $2}' /proc/mounts); do
    umount -l "$m" 2>/dev/null || warn "could not unmount $m"
  done
  stop_one vault TERM 30
  stop_one consul TERM 30
  # Every server kept its state in memory: what is on disk would not match a new
  # cluster. Logs stay unless --purge.
  rm -rf "$nomad_data" "$volumes" 2>/dev/null ||
    warn "could not remove all of $nomad_data (a leftover mount? see: grep $nomad_data /proc/mounts)"
  rm -f "$token_file" "$env_file"
  if [[ $purge == yes ]]; then
    rm -rf "$state"
    log "stopped; removed $state"
  else
    log "stopped; logs are in $logs (--purge removes $state)"
  fi
}

main() {
  local cmd=up
  if (($# > 0)); then
    case $1 in
      up | start) cmd=up; shift ;;
      stop | down) cmd=stop; shift ;;
      status) cmd=status; shift ;;
      -h | --help | help) usage; exit 0 ;;
      -*) ;;
      *) die "unknown command $1 (see $0 --help)" ;;
    esac
  fi
  "cmd_$cmd" "$@"
}

main "$@"
