"""Which container is this process in?

The ECS agent can look a task up by Docker ID, so everything downstream starts
here. There is no standard interface for a container to learn its own ID
(opencontainers/runtime-spec#1105), so we read what the runtimes leave behind in
``/proc/self/cgroup`` and ``/proc/self/mountinfo``. Most published detectors get
this subtly wrong (last-64-characters cuts, sandbox IDs, host session numbers);
the rules below take an ID only from a cgroup path or mount root that a runtime
names as a container's, never from a pod sandbox, a conmon scope or a file
Docker copies from the network-namespace owner, and prefer "no answer" to a
wrong one, because a wrong ID names somebody else's task.

Both files are treated as hostile input: reads are capped while reading (``/proc``
reports size 0), nothing that is not a regular file is read (a FIFO must not
hang start-up), and parsing is split-based so a huge line costs linear time.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from ._files import read_capped

__all__ = [
    "OVERRIDE_ENV",
    "Identity",
    "check_container_id",
    "container_id",
    "identify",
    "normalize_container_id",
    "parse_cgroup",
    "parse_mountinfo",
]

OVERRIDE_ENV = "SELFDISCOVER_DOCKER_ID"

CGROUP_MAX_BYTES = 64 * 1024
MOUNTINFO_MAX_BYTES = 2 * 1024 * 1024
MOUNTINFO_MAX_LINES = 20_000

# A cgroup or mount root longer than PATH_MAX cannot be real; refusing it keeps
# the per-line work bounded no matter what the file holds.
_MAX_PATH = 4096
# Path parts outside these lengths cannot be an ID (Garden, the shortest form, is
# 28 characters), so the regexes below only ever see short strings.
_MIN_PART = 28
_MAX_PART = 256


_HEX64 = re.compile(r"[0-9a-f]{64}")
_TASK = re.compile(r"[0-9a-f]{32}-[0-9]{1,10}")  # ECS/Fargate: <task>-<digits>
_GARDEN = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_POD_PART = re.compile(
    r"(?:kubepods[-a-z]*-)?pod"
    r"(?:[0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12}|[0-9a-f]{32})"
    r"(?:\.slice)?"
)
_RUNTIME_DIR = re.compile(r"(?:[a-z0-9]+-)?containers")  # docker, overlay-, btrfs-, ...
_ESCAPES = (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\"))

# conmon is the runtime's monitor process, not the container, even though its
# scope name carries the container's ID.
_NOT_CONTAINER_PREFIXES = ("crio-conmon-", "libpod-conmon-")
# Docker bind-mounts these from the *network-namespace owner* when a container
# joins another's namespace (--network container:x, ECS awsvpc's pause container).
_NETNS_FILES = frozenset({"/etc/hostname", "/etc/hosts", "/etc/resolv.conf"})
# In a pod these (plus the three above) come from the pause/sandbox/infra container.
_POD_SHARED_FILES = _NETNS_FILES | {"/run/.containerenv"}


@dataclass(frozen=True, slots=True)
class Identity:
    """The container ID plus how it was found, so ``doctor`` can explain a
    surprising answer instead of leaving the user to guess.

    ``rule`` is one of ``override``, ``cgroup``, ``mountinfo-cgroup-root``,
    ``mountinfo-runtime-dir`` or ``none``. A ``mountinfo-runtime-dir`` result
    whose ``detail`` mentions the network-namespace owner may name another
    container of the same task; prefer any source that names the caller itself.
    """

    container_id: str | None
    rule: str
    detail: str


def normalize_container_id(value: str) -> str | None:
    """Accept only the ID forms the ECS agent knows, so a typo in the override
    fails here rather than as a confusing 404 from the agent."""
    value = value.strip().lower()
    if _HEX64.fullmatch(value) or _TASK.fullmatch(value) or _GARDEN.fullmatch(value):
        return value
    return None


def check_container_id(value: str, name: str = OVERRIDE_ENV) -> str:
    """``value`` normalized, or ``ValueError`` naming ``name`` and saying what
    an ID looks like: a set but malformed ID is a mistake to report, not a
    reason to look elsewhere."""
    valid = normalize_container_id(value)
    if valid is None:
        raise ValueError(
            f"{name}={value[:80]!r} is not a valid container ID: expected the full 64-hex-digit Docker ID "
            "(a 12-character short ID is not enough), a Fargate <32 hex>-<digits> ID or a Garden ID"
        )
    return valid


# --- pure parsers -------------------------------------------------------------


def parse_cgroup(text: str) -> str | None:
    """Container ID from ``/proc/<pid>/cgroup`` content, or None when unsure."""
    return _scan_cgroup(text).container_id


def parse_mountinfo(text: str, *, kubernetes: bool | None = None) -> str | None:
    """Container ID from ``/proc/<pid>/mountinfo`` content, or None when unsure.

    ``kubernetes=None`` detects a pod from the text itself; pass True when the
    environment says so (``KUBERNETES_SERVICE_HOST``), because in a pod the
    hostname/hosts/resolv.conf mounts belong to the pause container. False
    trusts the caller and disables that filter.
    """
    return _scan_mountinfo(text, kubernetes).container_id


def _bounded_lines(text: str, max_chars: int, max_lines: int = -1) -> list[str]:
    """The same caps as the reader, so the pure parsers are just as bounded."""
    if len(text) > max_chars:
        text = text[:max_chars]
        # A cut line could turn a 65-hex name into a valid-looking 64-hex one.
        text = text[: text.rfind("\n") + 1]
    lines = text.split("\n", max_lines)
    return lines[:max_lines] if max_lines >= 0 else lines


def _match_part(part: str) -> str | None:
    """Whole-part matching only: searching substrings is what makes other
    detectors report 65-hex names, host session numbers and desktop scopes."""
    if part.startswith(_NOT_CONTAINER_PREFIXES) or part.endswith(".mount"):
        return None
    core = part[:-6] if part.endswith(".scope") else part
    tail = core[-64:]
    # Any prefix ending in '-' or ':' covers docker-, crio-, libpod-,
    # cri-containerd- and the containerd "...slice:cri-containerd:<id>" form.
    if _HEX64.fullmatch(tail) and (len(core) == 64 or core[-65] in "-:"):
        return tail
    if _TASK.fullmatch(part) or _GARDEN.fullmatch(part):
        return part
    return None


def _scan_cgroup_path(path: str) -> tuple[str, str] | None:
    """(id, part) from the rightmost ID-shaped part.

    Right to left, because nested containers (DinD, kind nodes) list the outer
    container first and runtimes may add a leaf below the container's own
    cgroup (podman's ``.../libpod-<id>.scope/container``, kube-proxy).
    """
    if len(path) > _MAX_PATH:
        return None
    parts = [p for p in path.split("/") if p and p not in (".", "..")]
    for i in range(len(parts) - 1, -1, -1):
        part = parts[i]
        if not _MIN_PART <= len(part) <= _MAX_PART:
            continue
        low = part.lower()
        found = _match_part(low)
        # A bare UUID is a container ID only directly inside a kubepods pod;
        # elsewhere it is Heroku's /lxc/<uuid> or a desktop session scope.
        if (
            found is None
            and i > 0
            and _UUID.fullmatch(low)
            and _POD_PART.fullmatch(parts[i - 1].lower())
            and any(p.startswith("kubepods") for p in parts[:i])
        ):
            found = low
        if found is not None:
            return found, part
    return None


def _scan_cgroup(text: str) -> Identity:
    for number, raw in enumerate(_bounded_lines(text, CGROUP_MAX_BYTES), 1):
        hierarchy, _, rest = raw.strip().partition(":")
        _controllers, sep, path = rest.partition(":")
        if not (sep and hierarchy.isascii() and hierarchy.isdigit()):
            continue
        hit = _scan_cgroup_path(path)
        if hit is not None:
            return Identity(hit[0], "cgroup", f"line {number}, path part {hit[1]!r}")
    return Identity(None, "none", "no container ID in any cgroup path")


def _unescape(field: str) -> str:
    # The kernel escapes exactly these four as \ooo in mountinfo (seq_escape with
    # " \t\n\\"). str.replace keeps a file full of escapes linear and fast;
    # the backslash goes last so "\134040" becomes a literal "\040".
    if "\\" not in field:
        return field
    for escaped, char in _ESCAPES:
        field = field.replace(escaped, char)
    return field


def _parse_mount(line: str) -> tuple[str, str, str] | None:
    """(root, mount point, fstype); optional fields make positions after the
    mount options variable, so the " - " separator is the only fixed anchor."""
    left, sep, right = line.partition(" - ")
    fields = left.split(" ", 5)
    if not sep or len(fields) < 6 or not (fields[0].isdigit() and fields[1].isdigit()):
        return None
    return _unescape(fields[3]), _unescape(fields[4]), right.split(" ", 1)[0]


def _is_cgroup_mount_point(mount_point: str) -> bool:
    if mount_point == "/sys/fs/cgroup":
        return True
    controller = mount_point[len("/sys/fs/cgroup/") :]
    return mount_point.startswith("/sys/fs/cgroup/") and bool(controller) and "/" not in controller


def _runtime_dir_id(root: str) -> str | None:
    """The ``<id>`` in ``.../containers/<id>/...``: the runtime's per-container
    directory. Never layers, volumes or sandboxes, which only look similar."""
    if len(root) > _MAX_PATH or "containers/" not in root or "/sandboxes/" in root:
        return None
    parts = root.split("/")
    for i in range(len(parts) - 1):
        if _RUNTIME_DIR.fullmatch(parts[i]):
            candidate = parts[i + 1].lower()
            if _HEX64.fullmatch(candidate):
                return candidate
    return None


def _scan_mountinfo(text: str, kubernetes: bool | None) -> Identity:
    in_pod = False
    candidates: list[tuple[str, str]] = []  # (id, mount point), file order
    for line in _bounded_lines(text, MOUNTINFO_MAX_BYTES, MOUNTINFO_MAX_LINES):
        mount = _parse_mount(line)
        if mount is None:
            continue
        root, mount_point, fstype = mount
        # 3a: the root of our own cgroup mount is our cgroup path (shared cgroupns).
        if fstype in ("cgroup", "cgroup2") and root != "/" and _is_cgroup_mount_point(mount_point):
            hit = _scan_cgroup_path(root)
            if hit is not None:
                detail = f"root of the {fstype} mount at {mount_point}, part {hit[1]!r}"
                return Identity(hit[0], "mountinfo-cgroup-root", detail)
        in_pod = in_pod or "/kubelet/pods/" in root or "kubernetes.io/serviceaccount" in mount_point
        found = _runtime_dir_id(root)
        if found is not None:
            candidates.append((found, mount_point))

    # 3b: the runtime directory, trusted only when it is unambiguous.
    if kubernetes is None:
        kubernetes = in_pod
    own: dict[str, str] = {}
    netns: dict[str, str] = {}
    skipped = 0
    for found, mount_point in candidates:
        if kubernetes and mount_point in _POD_SHARED_FILES:
            skipped += 1
        else:
            (netns if mount_point in _NETNS_FILES else own).setdefault(found, mount_point)
    if len(own) == 1:
        found, mount_point = next(iter(own.items()))
        detail = f"runtime directory mounted at {mount_point}"
        return Identity(found, "mountinfo-runtime-dir", detail)
    if not own and len(netns) == 1:
        found, mount_point = next(iter(netns.items()))
        detail = (
            f"runtime directory mounted at {mount_point}: may be the network-namespace owner "
            "(docker --network container:, ECS awsvpc pause container), not this container"
        )
        return Identity(found, "mountinfo-runtime-dir", detail)
    if own or netns:
        count = len(own) or len(netns)
        return Identity(None, "none", f"ambiguous: {count} distinct runtime-directory IDs")
    if skipped:
        return Identity(None, "none", f"ignored {skipped} pod-shared mount(s) under Kubernetes")
    return Identity(None, "none", "no cgroup mount root or runtime directory names a container")


def identify(proc_root: str = "/proc", environ: Mapping[str, str] | None = None) -> Identity:
    """Find this process's container ID, recording which rule decided.

    Order: the ``SELFDISCOVER_DOCKER_ID`` override, ``self/cgroup``, then
    ``self/mountinfo``. Never the hostname: it is a short ID or a pod name and
    users change it. Never raises.
    """
    env = os.environ if environ is None else environ
    notes: list[str] = []

    raw = env.get(OVERRIDE_ENV, "").strip()
    if raw:
        valid = normalize_container_id(raw)
        if valid is not None:
            return Identity(valid, "override", f"from ${OVERRIDE_ENV}")
        notes.append(f"ignored invalid ${OVERRIDE_ENV}={raw[:80]!r}")

    def found(result: Identity, path: str, note: str) -> Identity:
        detail = f"{path}{note}: {result.detail}"
        return Identity(result.container_id, result.rule, "; ".join([*notes, detail]))

    cgroup_path = os.path.join(proc_root, "self", "cgroup")
    text, note = read_capped(cgroup_path, CGROUP_MAX_BYTES)
    if text is None:
        notes.append(note)
    else:
        result = _scan_cgroup(text)
        if result.container_id is not None:
            return found(result, cgroup_path, note)
        notes.append(f"{cgroup_path}{note}: {result.detail}")

    mountinfo_path = os.path.join(proc_root, "self", "mountinfo")
    text, note = read_capped(mountinfo_path, MOUNTINFO_MAX_BYTES)
    if text is None:
        notes.append(note)
    else:
        result = _scan_mountinfo(text, True if env.get("KUBERNETES_SERVICE_HOST") else None)
        if result.container_id is not None:
            return found(result, mountinfo_path, note)
        notes.append(f"{mountinfo_path}{note}: {result.detail}")

    return Identity(None, "none", "; ".join(notes))


def container_id(proc_root: str = "/proc") -> str | None:
    """The container ID, or None; uncached so tests can point it anywhere."""
    return identify(proc_root).container_id
