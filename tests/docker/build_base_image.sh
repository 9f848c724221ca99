#!/usr/bin/env bash
# Build a minimal local Debian base image with python3 and the runtime
# dependencies of `selfdiscover` (urllib3, tenacity, psutil), without pulling
# anything from a container registry:
#
#   debootstrap --variant=minbase (Debian mirror read from the host's apt
#   sources at run time)  ->  tar  ->  docker import
#
# Also in the image: Debian's python3-pip (to install a locally built
# selfdiscover wheel offline: --no-index --no-deps) and python3-docker (the
# Docker Engine API client the agent emulator uses).
#
# Skipped when the tag already exists and was built from the same package list
# (the list is kept in the image label selfdiscover.base.packages, so a changed
# list rebuilds instead of reusing a stale image). FORCE=1 always rebuilds.
#
# Environment:
#   IMAGE            tag to build            (default selfdiscover-base:bookworm)
#   SUITE            Debian suite            (default: the host's VERSION_CODENAME, else bookworm)
#   DEBIAN_MIRROR    mirror URL override     (default: parsed from /etc/apt sources)
#   EXTRA_PACKAGES   comma-separated extras  (default: none)
#   DOCKER           docker client to use    (default: `docker` on PATH)
#   FORCE=1          rebuild even if the tag exists
#   DEBOOTSTRAP_CACHE  .deb cache dir (default /var/cache/selfdiscover-debootstrap; "" = none)
#
# Needs root, debootstrap and a running engine (run .ci/docker.sh first).
set -euo pipefail

DOCKER="${DOCKER:-docker}"
SUITE="${SUITE:-}"
if [[ -z "$SUITE" ]]; then
    SUITE="$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")" || true
    SUITE="${SUITE:-bookworm}"
fi
IMAGE="${IMAGE:-selfdiscover-base:${SUITE}}"
PACKAGES="python3,python3-urllib3,python3-tenacity,python3-psutil,python3-pip,python3-docker${EXTRA_PACKAGES:+,${EXTRA_PACKAGES}}"
DEBOOTSTRAP_CACHE="${DEBOOTSTRAP_CACHE-/var/cache/selfdiscover-debootstrap}"

log() { printf '[build_base_image] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

t0=$(date +%s.%N)
elapsed() { awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

[[ $(id -u) -eq 0 ]] || die "must run as root (debootstrap needs it)"
"$DOCKER" info >/dev/null 2>&1 || die "no Docker engine reachable with '$DOCKER' (run .ci/docker.sh first)"

if [[ "${FORCE:-0}" != 1 ]] && have="$("$DOCKER" image inspect \
        -f '{{index .Config.Labels "selfdiscover.base.packages"}}' "$IMAGE" 2>/dev/null)"; then
    if [[ "$have" == "$PACKAGES" ]]; then
        log "image $IMAGE already exists, skipping ($(elapsed) s); FORCE=1 rebuilds"
        exit 0
    fi
    log "image $IMAGE exists but was built from packages '$have', not '$PACKAGES': rebuilding"
fi

if ! command -v debootstrap >/dev/null 2>&1; then
    log "installing debootstrap"
    { DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends debootstrap \
      || { apt-get -o DPkg::Lock::Timeout=300 update \
           && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends debootstrap; }; \
    } >/var/log/selfdiscover-apt.log 2>&1 || die "could not install debootstrap (see /var/log/selfdiscover-apt.log)"
fi

# --- find the Debian mirror in the host's apt configuration -----------------
# Prints the first URI of an enabled `deb` entry whose suites include $SUITE.
# Understands both the one-line format (sources.list, *.list) and deb822
# (*.sources). Only http(s):// and file:/ URIs are taken.
find_mirror() {
    local files=()
    [[ -f /etc/apt/sources.list ]] && files+=(/etc/apt/sources.list)
    local f
    for f in /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
        [[ -f "$f" ]] && files+=("$f")
    done
    ((${#files[@]})) || return 1
    awk -v suite="$SUITE" '
        function ok_uri(u) { return u ~ /^(https?:\/\/|file:\/)/ }
        function has_suite(list,   n, i, a) {
            n = split(list, a, /[ \t]+/)
            for (i = 1; i <= n; i++) if (a[i] == suite) return 1
            return 0
        }
        function flush_stanza(   n, u) {
            if (types ~ /(^|[ \t])deb([ \t]|$)/ && enabled != "no" && has_suite(suites)) {
                n = split(uris, u, /[ \t]+/)
                if (n >= 1 && ok_uri(u[1])) { print u[1]; found = 1; exit }
            }
            types = ""; uris = ""; suites = ""; enabled = ""
        }
        FILENAME ~ /\.sources$/ {
            if (FNR == 1) flush_stanza()
            if ($0 ~ /^[ \t]*#/) next
            if ($0 ~ /^[ \t]*$/) { flush_stanza(); next }
            line = $0; key = tolower(line); sub(/:.*/, "", key); sub(/^[^:]*:[ \t]*/, "", line)
            if (key == "types") types = line
            else if (key == "uris") uris = line
            else if (key == "suites") suites = line
            else if (key == "enabled") enabled = tolower(line)
            next
        }
        {
            if (FNR == 1) flush_stanza()
            sub(/#.*/, "")
            if ($1 != "deb") next
            i = 2
            if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
            if (i + 1 <= NF && $(i + 1) == suite && ok_uri($i)) { print $i; found = 1; exit }
        }
        END { if (!found) flush_stanza() }
    ' "${files[@]}"
}

MIRROR="${DEBIAN_MIRROR:-}"
if [[ -z "$MIRROR" ]]; then
    MIRROR="$(find_mirror | head -n1)" || true
fi
[[ -n "$MIRROR" ]] || die "no enabled 'deb' source for suite '$SUITE' found in /etc/apt/sources.list{,.d/*}; set DEBIAN_MIRROR"
log "suite=$SUITE mirror=$MIRROR image=$IMAGE packages=$PACKAGES"

old_id="$("$DOCKER" image inspect -f '{{.Id}}' "$IMAGE" 2>/dev/null || true)"

# --- debootstrap into a temporary rootfs ----------------------------------------
WORK="$(mktemp -d /var/tmp/selfdiscover-rootfs.XXXXXX)"
ROOTFS="$WORK/rootfs"
cleanup() {
    # debootstrap mounts proc/sys (and may bind /dev) inside the target; never
    # rm -rf through a mount point.
    local m
    if [[ -d "$ROOTFS" ]]; then
        for m in $(awk -v r="$ROOTFS" '$2 == r || index($2, r "/") == 1 { print $2 }' /proc/self/mounts | sort -r); do
            umount -l "$m" 2>/dev/null || true
        done
    fi
    rm -rf --one-file-system "$WORK"
}
trap cleanup EXIT

db_args=(--variant=minbase --include="$PACKAGES")
if [[ -n "$DEBOOTSTRAP_CACHE" ]]; then
    mkdir -p "$DEBOOTSTRAP_CACHE"
    db_args+=(--cache-dir="$DEBOOTSTRAP_CACHE")
fi
log "debootstrap ${db_args[*]} $SUITE ..."
if ! debootstrap "${db_args[@]}" "$SUITE" "$ROOTFS" "$MIRROR" >"$WORK/debootstrap.log" 2>&1; then
    tail -n 30 "$WORK/debootstrap.log" >&2
    [[ -f "$ROOTFS/debootstrap/debootstrap.log" ]] && tail -n 30 "$ROOTFS/debootstrap/debootstrap.log" >&2
    die "debootstrap failed"
fi
log "debootstrap done ($(elapsed) s)"

# --- trim ------------------------------------------------------------------------
chroot "$ROOTFS" apt-get clean >/dev/null 2>&1 || true
rm -rf --one-file-system \
    "$ROOTFS"/var/lib/apt/lists/* \
    "$ROOTFS"/var/cache/apt/*.bin \
    "$ROOTFS"/var/cache/apt/archives/*.deb \
    "$ROOTFS"/var/log/*.log "$ROOTFS"/var/log/apt/* \
    "$ROOTFS"/usr/share/doc/* \
    "$ROOTFS"/usr/share/man/* \
    "$ROOTFS"/usr/share/info/* \
    "$ROOTFS"/usr/share/locale/* \
    "$ROOTFS"/debootstrap \
    "$ROOTFS"/tmp/* "$ROOTFS"/var/tmp/*
# (keep the packages' __pycache__: without it every container start recompiles
#  urllib3 & co. and `import urllib3, tenacity, psutil` costs ~0.3 s more)
# Docker bind-mounts these at run time; do not bake the build host's copies in.
: >"$ROOTFS/etc/resolv.conf" || true
echo localhost >"$ROOTFS/etc/hostname" || true

# --- import ---------------------------------------------------------------------
log "docker import -> $IMAGE"
tar --numeric-owner --xattrs -C "$ROOTFS" -c . | "$DOCKER" import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'LABEL org.opencontainers.image.title=selfdiscover-base' \
    --change "LABEL selfdiscover.base.suite=$SUITE" \
    --change "LABEL selfdiscover.base.packages=$PACKAGES" \
    --change 'CMD ["python3"]' \
    --message "debootstrap --variant=minbase $SUITE + $PACKAGES" \
    - "$IMAGE" >/dev/null

# --- sanity check in a real container (no network) -------------------------------
if ! versions="$("$DOCKER" run --rm --network none "$IMAGE" python3 -c \
        'import sys, urllib3, tenacity, psutil, docker; print("python", sys.version.split()[0], "urllib3", urllib3.__version__, "psutil", psutil.__version__, "docker", docker.__version__)')"; then
    "$DOCKER" rmi "$IMAGE" >/dev/null 2>&1 || true
    die "python3 or a dependency does not import in $IMAGE; image removed"
fi
log "$versions"

new_id="$("$DOCKER" image inspect -f '{{.Id}}' "$IMAGE")"
if [[ -n "$old_id" && "$old_id" != "$new_id" ]]; then
    "$DOCKER" rmi "$old_id" >/dev/null 2>&1 || log "note: previous image $old_id still in use, left in place"
fi

size="$("$DOCKER" image inspect -f '{{.Size}}' "$IMAGE")"
log "built $IMAGE: $(awk -v s="$size" 'BEGIN { printf "%.1f MB", s / 1e6 }') in $(elapsed) s"
