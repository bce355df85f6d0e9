# router.docker.nomad.hcl: the tenantctl router, nginx in front of every tenant
# app (docker profile: the nginx image, host networking).
#
# Cluster-wide, not per tenant: one allocation per client node (a system job),
# configured by Nomad's template runner (consul-template) from the services the
# tenant apps register in Consul:
#
#   nomad job run router.docker.nomad.hcl
#
# The two template blocks carry nginx/nginx.conf and
# consul-templates/nginx-tenants.conf.ctmpl verbatim (kept in sync by
# `go test ./internal/routing -update`); router.exec.nomad.hcl is the same job
# for the exec profile. See docs/routing.md.

variable "datacenters" {
  type        = list(string)
  default     = ["*"]
  description = "Datacenters the router runs in."
}

variable "node_pool" {
  type        = string
  default     = "default"
  description = "Node pool the router runs in."
}

variable "http_port" {
  type        = number
  default     = 80
  description = "Static HTTP port nginx listens on, on every node."
}

variable "https_port" {
  type        = number
  default     = 443
  description = "Static HTTPS port; nginx listens on it only when tls_cert_path is set."
}

variable "nginx_image" {
  type        = string
  default     = "nginx:1.27-alpine"
  description = "The nginx image."
}

variable "nginx_globals" {
  type        = string
  default     = ""
  description = "Extra main-context directives passed with nginx -g, such as \"user www-data;\"."
}

variable "docker_volumes" {
  type        = list(string)
  default     = []
  description = "Host paths mounted into the container (docker volumes syntax), such as the directory holding the TLS certificate."
}

variable "tls_cert_path" {
  type        = string
  default     = ""
  description = "Certificate (chain) file for every tenant host, as the task sees it; empty serves HTTP only."
}

variable "tls_key_path" {
  type        = string
  default     = ""
  description = "Private key of tls_cert_path, as the task sees it."
}

variable "rate" {
  type        = string
  default     = "20r/s"
  description = "Requests per client address and tenant (nginx limit_req rate, like 20r/s or 600r/m)."
}

variable "burst" {
  type        = number
  default     = 40
  description = "Requests above the rate accepted at once before nginx answers 429."
}

variable "path_routing_host" {
  type        = string
  default     = ""
  description = "Shared host under which /<tenant-id>/... reaches each tenant's app (prefix stripped); empty turns path routing off. Set tenantctl.hcl's path_routing_host to the same value."

  validation {
    condition     = var.path_routing_host == "" || (strlen(var.path_routing_host) <= 253 && regex_replace(var.path_routing_host, "^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?[.])+[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", "") == "")
    error_message = "The path routing host must be empty or a lower-case DNS name of at most 253 characters."
  }
}

variable "template_wait_min" {
  type        = string
  default     = "1s"
  description = "Quiet time after a Consul change before the config is rendered and nginx reloaded."
}

variable "template_wait_max" {
  type        = string
  default     = "3s"
  description = "Longest a render waits for changes to settle. Keep it well below the tenants' shutdown_delay (5s): a stopping instance must leave nginx's upstream before its process stops."
}

variable "cpu" {
  type        = number
  default     = 200
  description = "CPU in MHz."
}

variable "memory" {
  type        = number
  default     = 128
  description = "Memory in MiB."
}

locals {
  nginx_args = [
    "-p", "${NOMAD_TASK_DIR}/",
    "-c", "${NOMAD_TASK_DIR}/nginx.conf",
    "-g", "daemon off; ${var.nginx_globals}",
  ]
}

job "tenantctl-router" {
  type        = "system"
  datacenters = var.datacenters
  node_pool   = var.node_pool

  meta = {
    "tenantctl.role" = "router"
  }

  group "router" {
    shutdown_delay = "5s"

    network {
      port "http" {
        static = var.http_port
      }
      port "https" {
        static = var.https_port
      }
    }

    service {
      name     = "tenantctl-router"
      port     = "http"
      provider = "consul"
      tags     = ["tenantctl-router"]

      check {
        type     = "tcp"
        interval = "10s"
        timeout  = "2s"
      }
    }

    restart {
      attempts = 10
      interval = "5m"
      delay    = "10s"
      mode     = "delay"
    }

    task "nginx" {
      driver      = "docker"
      kill_signal = "SIGQUIT"

      config {
        image        = var.nginx_image
        network_mode = "host"
        command      = "nginx"
        args         = local.nginx_args
        volumes      = var.docker_volumes
      }

      env {
        TENANTCTL_ROUTER_LISTEN     = var.http_port
        TENANTCTL_ROUTER_TLS_LISTEN = var.https_port
        TENANTCTL_ROUTER_TLS_CERT   = var.tls_cert_path
        TENANTCTL_ROUTER_TLS_KEY    = var.tls_key_path
        TENANTCTL_ROUTER_RATE       = var.rate
        TENANTCTL_ROUTER_BURST      = var.burst
        TENANTCTL_ROUTER_ACCESS_LOG = "/dev/stdout"
        TENANTCTL_ROUTER_PATH_HOST  = var.path_routing_host
      }

      # The base configuration: static, rendered once.
      template {
        destination   = "local/nginx.conf"
        change_mode   = "signal"
        change_signal = "SIGHUP"
        splay         = "0s"
        data          = <<EOT_NGINX_CONF
# tenantctl router: base nginx configuration.
#
# Start nginx with a prefix directory it may write to and this file next to the
# rendered tenants.conf:
#
#   nginx -p <dir>/ -c <dir>/nginx.conf -g 'daemon off;'
#
# Relative paths below resolve against the prefix (-p); the include resolves
# against this file's directory. Global directives that depend on the host
# (user, worker count) are passed with -g instead of being edited here.

worker_processes auto;
pid nginx.pid;
error_log stderr notice;

events {
    worker_connections 4096;
}

http {
    # Temporary files inside the prefix, so nginx needs no system directories.
    client_body_temp_path client_body_temp;
    proxy_temp_path proxy_temp;
    fastcgi_temp_path fastcgi_temp;
    uwsgi_temp_path uwsgi_temp;
    scgi_temp_path scgi_temp;

    sendfile on;
    tcp_nopush on;
    keepalive_timeout 65s;
    types_hash_max_size 2048;
    # Room for many long tenant host names.
    server_names_hash_max_size 4096;
    server_names_hash_bucket_size 512;
    map_hash_bucket_size 128;
    variables_hash_max_size 2048;

    default_type application/octet-stream;
    access_log off;

    # Every tenant server, the default server and the access log format;
    # rendered by consul-template from consul-templates/nginx-tenants.conf.ctmpl.
    include tenants.conf;
}
EOT_NGINX_CONF
      }

      # One server per tenant app service, re-rendered on every change in
      # Consul; SIGHUP makes nginx reload without dropping connections.
      # splay 0s: Nomad otherwise waits a random 0-5s (its default splay)
      # after a render before it signals, and a stopping instance would stay
      # in nginx's upstream past its shutdown_delay.
      template {
        destination   = "local/tenants.conf"
        change_mode   = "signal"
        change_signal = "SIGHUP"
        splay         = "0s"

        wait {
          min = var.template_wait_min
          max = var.template_wait_max
        }

        data = <<EOT_TENANTS_CONF
{{- /*
  tenantctl router: the nginx http-context configuration for every tenant app,
  rendered by consul-template from the services Nomad registers in Consul.
  Include the output inside an nginx `http { }` block (nginx/nginx.conf does).

  A service is routed when it carries the tag "tenantctl" and
    - exactly one tag "tenantctl.tenant=<id>", <id> a tenant id,
    - its name is "<id>--app",
    - one or more tags "tenantctl.host=<host>", each a lower-case DNS name.
  Every value taken from Consul is checked here with a strict pattern before it
  reaches the output; a service with any invalid value is skipped whole (with
  a comment that repeats nothing of it when its name ends in "--app"; other
  tenantctl services, such as workers, are not routed and pass silently). A host whose first label is a tenant's
  id (acme.example.test for acme) can only be served for that tenant; any
  other host goes to the first service, by name, that names it.

  The upstream lists passing instances only. A tenant with no passing instance
  keeps its server block and answers 503 with a JSON body; 502 when every
  listed instance refuses connections.

  Settings come from the environment (Nomad: the task's env block):
    TENANTCTL_ROUTER_LISTEN      HTTP listen, PORT | IPV4:PORT | [IPV6]:PORT   (80)
    TENANTCTL_ROUTER_TLS_LISTEN  HTTPS listen, same forms                      (443)
    TENANTCTL_ROUTER_TLS_CERT    certificate (chain) file; TLS is on when set  ()
    TENANTCTL_ROUTER_TLS_KEY     its private key file; required with the cert  ()
    TENANTCTL_ROUTER_RATE        per-tenant, per-client rate, N r/s or N r/m   (20r/s)
    TENANTCTL_ROUTER_BURST       burst above the rate before 429               (40)
    TENANTCTL_ROUTER_ACCESS_LOG  access log file, or "off"                     (/dev/stdout)
    TENANTCTL_ROUTER_PATH_HOST   shared host under which /<id>/... reaches
                                 tenant <id>'s app, prefix stripped; off when
                                 empty; no tenant may claim it                ()
  An invalid setting fails the render instead of producing a config.
*/ -}}
{{- $listenRe := `^(([0-9]{1,3}\.){3}[0-9]{1,3}:|\[[0-9a-fA-F:.]+\]:)?[0-9]{1,5}$` -}}
{{- $pathRe := `^[A-Za-z0-9_./-]+$` -}}
{{- $listen := envOrDefault "TENANTCTL_ROUTER_LISTEN" "80" -}}
{{- if not (regexMatch $listenRe $listen) -}}
{{- sprig_fail (printf "TENANTCTL_ROUTER_LISTEN=%q: want PORT, IPV4:PORT or [IPV6]:PORT" $listen) -}}
{{- end -}}
{{- $tlsListen := envOrDefault "TENANTCTL_ROUTER_TLS_LISTEN" "443" -}}
{{- if not (regexMatch $listenRe $tlsListen) -}}
{{- sprig_fail (printf "TENANTCTL_ROUTER_TLS_LISTEN=%q: want PORT, IPV4:PORT or [IPV6]:PORT" $tlsListen) -}}
{{- end -}}
{{- $cert := envOrDefault "TENANTCTL_ROUTER_TLS_CERT" "" -}}
{{- $key := envOrDefault "TENANTCTL_ROUTER_TLS_KEY" "" -}}
{{- $tls := ne $cert "" -}}
{{- if or (and $tls (eq $key "")) (and (not $tls) (ne $key "")) -}}
{{- sprig_fail "TENANTCTL_ROUTER_TLS_CERT and TENANTCTL_ROUTER_TLS_KEY must be set together" -}}
{{- end -}}
{{- if and $tls (or (not (regexMatch $pathRe $cert)) (not (regexMatch $pathRe $key))) -}}
{{- sprig_fail "TENANTCTL_ROUTER_TLS_CERT and TENANTCTL_ROUTER_TLS_KEY must be file paths of A-Z a-z 0-9 _ . / -" -}}
{{- end -}}
{{- $rate := envOrDefault "TENANTCTL_ROUTER_RATE" "20r/s" -}}
{{- if not (regexMatch `^[1-9][0-9]{0,5}r/[sm]$` $rate) -}}
{{- sprig_fail (printf "TENANTCTL_ROUTER_RATE=%q: want like 20r/s or 600r/m" $rate) -}}
{{- end -}}
{{- $burst := envOrDefault "TENANTCTL_ROUTER_BURST" "40" -}}
{{- if not (regexMatch `^[0-9]{1,6}$` $burst) -}}
{{- sprig_fail (printf "TENANTCTL_ROUTER_BURST=%q: want a whole number" $burst) -}}
{{- end -}}
{{- $accessLog := envOrDefault "TENANTCTL_ROUTER_ACCESS_LOG" "/dev/stdout" -}}
{{- if not (regexMatch $pathRe $accessLog) -}}
{{- sprig_fail (printf "TENANTCTL_ROUTER_ACCESS_LOG=%q: want a file path or off" $accessLog) -}}
{{- end -}}
{{- $hostRe := `^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$` -}}
{{- $pathHost := envOrDefault "TENANTCTL_ROUTER_PATH_HOST" "" -}}
{{- if and (ne $pathHost "") (or (gt (len $pathHost) 253) (not (regexMatch $hostRe $pathHost)) (not (regexMatch `\.[0-9-]*[a-z][a-z0-9-]*$` $pathHost))) -}}
{{- sprig_fail (printf "TENANTCTL_ROUTER_PATH_HOST=%q: want a lower-case DNS name" $pathHost) -}}
{{- end -}}
{{- if ne $pathHost "" }}{{ scratch.Set (printf "used %s" $pathHost) "-" }}{{ end -}}
{{- $pathLocations := "" -}}
{{- $accessLogLine := printf "access_log %s tenantctl;" $accessLog -}}
{{- if eq $accessLog "off" }}{{ $accessLogLine = "access_log off;" }}{{ end -}}
# Rendered by consul-template from consul-templates/nginx-tenants.conf.ctmpl
# (tenantctl). Do not edit: changes are overwritten on the next render.

log_format tenantctl '$remote_addr tenant=$tenantctl_tenant host=$host [$time_local] '
                     '"$request" $status $body_bytes_sent rt=$request_time '
                     'upstream=$upstream_addr ut=$upstream_response_time '
                     'req=$request_id ua="$http_user_agent"';

map $scheme $tenantctl_hsts {
    https   "max-age=31536000";
    default "";
}

# Unknown hosts.
server {
    listen {{ $listen }} default_server;
{{- if $tls }}
    listen {{ $tlsListen }} ssl default_server;
    ssl_reject_handshake on;
{{- end }}
    server_name _;
    server_tokens off;
    set $tenantctl_tenant "-";
    {{ $accessLogLine }}
    default_type application/json;
    location / {
        return 404 '{"error":"unknown host"}\n';
    }
}
{{- /*
  Pass 1: validate every service tagged "tenantctl" once and keep the result
  in scratch under "svc <name>" as "<id> <host> <host>..." (nothing is kept for
  an invalid service). Tags are the union over the service's instances.
  Every valid service also claims the hosts whose first label is its own
  tenant id (acme claims acme.example.test), so no other service can take a
  tenant's default host whatever their names' order.
  Nomad's template runner refuses calls to sub-templates (its default
  function_denylist), so this template defines none.
*/ -}}
{{- range services }}
{{- if .Tags | contains "tenantctl" }}
{{- $name := .Name }}
{{- $id := "" }}
{{- $ids := 0 }}
{{- $hosts := "" }}
{{- $valid := true }}
{{- range .Tags }}
{{- if regexMatch `^tenantctl\.tenant=` . }}
{{- $id = trimPrefix "tenantctl.tenant=" . }}
{{- $ids = add $ids 1 }}
{{- else if regexMatch `^tenantctl\.host=` . }}
{{- $host := trimPrefix "tenantctl.host=" . }}
{{- if and (le (len $host) 253) (regexMatch $hostRe $host) (regexMatch `\.[0-9-]*[a-z][a-z0-9-]*$` $host) }}
{{- $hosts = printf "%s %s" $hosts $host }}
{{- else }}
{{- $valid = false }}
{{- end }}
{{- end }}
{{- end }}
{{- if and $valid (eq $ids 1) (le (len $id) 32) (regexMatch `^[a-z](-?[a-z0-9])+$` $id) (eq $name (printf "%s--app" $id)) (ne $hosts "") }}
{{- scratch.Set (printf "svc %s" $name) (printf "%s%s" $id $hosts) }}
{{- range split " " $hosts }}
{{- if and (ne . "") (eq (index (split "." .) 0) $id) }}{{ scratch.Set (printf "claim %s" .) $id }}{{ end }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- /*
  Pass 2: one server per valid service. An instance is listed when it
  carries its tenant's tag, its port is valid and its address is an IP
  literal (IPv6 in brackets). Host names are refused: nginx would resolve
  them at load time and fail the whole configuration when one does not
  resolve.
*/ -}}
{{- range services }}
{{- if .Tags | contains "tenantctl" }}
{{- $name := .Name }}
{{- $svcKey := printf "svc %s" $name }}
{{- if not (scratch.Key $svcKey) }}
{{- if regexMatch `--app$` $name }}

# Skipped a service tagged tenantctl: its name or a tenantctl.* tag is invalid.
{{- end }}
{{- else }}
{{- $v := split " " (scratch.Get $svcKey) }}
{{- $id := index $v 0 }}
{{- $tenantTag := printf "tenantctl.tenant=%s" $id }}
{{- $hosts := "" }}
{{- range $i, $h := $v }}
{{- if gt $i 0 }}
{{- $claim := printf "claim %s" $h }}
{{- $used := printf "used %s" $h }}
{{- if and (not (scratch.Key $used)) (or (not (scratch.Key $claim)) (eq (scratch.Get $claim) $id)) }}
{{- scratch.Set $used $id }}
{{- $hosts = printf "%s %s" $hosts $h }}
{{- end }}
{{- end }}
{{- end }}
{{- if eq $hosts "" }}

# Skipped tenant {{ $id }}: every host it names is served for another tenant.
{{- else }}
{{- $instances := 0 }}
{{- $servers := "" }}
{{- range service $name }}
{{- if and (.Tags | contains $tenantTag) (gt .Port 0) (lt .Port 65536) }}
{{- if regexMatch `^([0-9]{1,3}\.){3}[0-9]{1,3}$` .Address }}
{{- $servers = printf "%s\n    server %s:%d;" $servers .Address .Port }}
{{- $instances = add $instances 1 }}
{{- else if regexMatch `^[0-9a-fA-F]*:[0-9a-fA-F:.]+$` .Address }}
{{- $servers = printf "%s\n    server [%s]:%d;" $servers .Address .Port }}
{{- $instances = add $instances 1 }}
{{- end }}
{{- end }}
{{- end }}

# Tenant {{ $id }} (service {{ $name }}): {{ $instances }} passing instance(s).
limit_req_zone $binary_remote_addr zone=tenantctl_{{ $id }}:1m rate={{ $rate }};
{{- if gt $instances 0 }}
upstream tenantctl_{{ $id }} {
{{- $servers }}
    keepalive 16;
}
{{- end }}
server {
    listen {{ $listen }};
{{- if $tls }}
    listen {{ $tlsListen }} ssl;
    ssl_certificate {{ $cert }};
    ssl_certificate_key {{ $key }};
{{- end }}
    server_name{{ $hosts }};
    server_tokens off;
    set $tenantctl_tenant {{ $id }};
    {{ $accessLogLine }}
    limit_req zone=tenantctl_{{ $id }} burst={{ $burst }} nodelay;
    limit_req_status 429;
    add_header X-Content-Type-Options "nosniff" always;
    add_header X-Frame-Options "SAMEORIGIN" always;
    add_header Referrer-Policy "strict-origin-when-cross-origin" always;
    add_header Strict-Transport-Security $tenantctl_hsts always;
{{- if gt $instances 0 }}
    location / {
        proxy_pass http://tenantctl_{{ $id }};
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $host;
        proxy_set_header X-Real-IP $remote_addr;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_set_header X-Request-ID $request_id;
        proxy_connect_timeout 3s;
        error_page 502 504 = @unavailable;
    }
    location @unavailable {
        default_type application/json;
        return 502 '{"error":"no instance answered","tenant":"{{ $id }}"}\n';
    }
{{- else }}
    add_header Retry-After "10" always;
    default_type application/json;
    location / {
        return 503 '{"error":"no healthy instance","tenant":"{{ $id }}"}\n';
    }
{{- end }}
}
{{- if ne $pathHost "" }}
{{- if gt $instances 0 }}
{{- $pathLocations = printf `%s
    # Tenant %s by path.
    location = /%s {
        return 308 /%s/$is_args$args;
    }
    location /%s/ {
        set $tenantctl_tenant %s;
        limit_req zone=tenantctl_%s burst=%s nodelay;
        proxy_pass http://tenantctl_%s/;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $host;
        proxy_set_header X-Real-IP $remote_addr;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_set_header X-Forwarded-Prefix /%s;
        proxy_set_header X-Request-ID $request_id;
        proxy_connect_timeout 3s;
        error_page 502 504 = @unavailable_%s;
    }
    location @unavailable_%s {
        default_type application/json;
        return 502 '{"error":"no instance answered","tenant":"%s"}\n';
    }` $pathLocations $id $id $id $id $id $id $burst $id $id $id $id $id }}
{{- else }}
{{- $pathLocations = printf `%s
    # Tenant %s by path: no passing instance.
    location /%s/ {
        set $tenantctl_tenant %s;
        add_header Retry-After "10" always;
        return 503 '{"error":"no healthy instance","tenant":"%s"}\n';
    }` $pathLocations $id $id $id $id }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- if ne $pathHost "" }}

# Path routing: /<tenant-id>/... on the shared host, prefix stripped.
server {
    listen {{ $listen }};
{{- if $tls }}
    listen {{ $tlsListen }} ssl;
    ssl_certificate {{ $cert }};
    ssl_certificate_key {{ $key }};
{{- end }}
    server_name {{ $pathHost }};
    server_tokens off;
    absolute_redirect off;
    set $tenantctl_tenant "-";
    {{ $accessLogLine }}
    limit_req_status 429;
    default_type application/json;
    add_header X-Content-Type-Options "nosniff" always;
    add_header X-Frame-Options "SAMEORIGIN" always;
    add_header Referrer-Policy "strict-origin-when-cross-origin" always;
    add_header Strict-Transport-Security $tenantctl_hsts always;
    location / {
        return 404 '{"error":"unknown tenant"}\n';
    }
{{- $pathLocations }}
}
{{- end }}
{{- "\n" -}}
EOT_TENANTS_CONF
      }

      resources {
        cpu    = var.cpu
        memory = var.memory
      }
    }
  }
}
