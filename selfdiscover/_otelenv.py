"""``OTEL_RESOURCE_ATTRIBUTES``: the task's OpenTelemetry resource for an SDK in any language.

Pure: values in, values out. ``resource_attributes()`` picks what the variable
can carry from the one mapping (``_tags.otel_resource_attributes``, the
resource detector's and the ``otel`` log style's), ``encode()`` writes the
variable's value, ``merge()`` adds it to an operator's own.

What each SDK does with ``key1=value1,key2=value2`` (the specification: ``,``
and ``=`` MUST be percent-encoded, anything else MAY be; on an error a reader
SHOULD discard the whole variable):

- Python ``OTELResourceDetector``: splits on ``,`` and the first ``=``, strips
  whitespace, then ``urllib.parse.unquote`` on the value only; a malformed
  item is skipped with a warning.
- JavaScript ``envDetector`` (``@opentelemetry/resources`` 2.6+): drops blank
  items, requires exactly one ``=``, trims, then ``decodeURIComponent`` on key
  and value, each at most 255 characters (UTF-16 code units, the string's
  ``length``) after decoding; one bad entry discards the whole variable.
- Java autoconfigure: blank items dropped, a key or value that is blank after
  trimming is a configuration error; values decoded with ``+`` kept (older
  versions: ``URLDecoder``, which turns ``+`` into a space).
- Go: ``strings.TrimSpace`` and ``url.PathUnescape`` on the value (the raw
  value on an error); keys kept as written.
- .NET: newer versions ``WebUtility.UrlDecode`` the value (``+`` becomes a
  space); older ones decode nothing.

So, the rule: a key is written only if it needs no encoding at all (only
``A-Za-z0-9-._~/:``), since Python, Java, Go and .NET do not decode keys; a
value is written with every UTF-8 byte outside ``A-Za-z0-9-._~/:`` as
``%XX``. The text is then plain ASCII with no ``,``, ``=``, ``+``, whitespace
or ``%`` other than in an escape, so trimming cannot touch it, ``+`` cannot
become a space, and every decoder (``unquote``, ``decodeURIComponent``,
``PathUnescape``, Java's, ``UrlDecode``) returns the original string; an SDK
that decodes nothing (old .NET) sees the escapes. ``/`` and ``:`` stay
readable: ARNs and image names are made of them and no reader treats them
specially.

Left out, each with a note, rather than let one entry cost the whole
variable: a key that would need encoding, a value longer than 255 UTF-16 code
units (JavaScript), an empty value (Java) and text that is not valid Unicode
(a lone surrogate has no UTF-8 form). ``service.name`` is never written: it
names the application, not the ECS service.

Array-valued attributes (``aws.log.group.names``/``arns``,
``aws.log.stream.names``/``arns``, ``container.image.tags``) are not carried:
the variable has only strings, and no SDK reads any array form back. Their
one element as a plain string would be a different attribute (the semantic
conventions type them ``string[]``), and the environment resource is merged
over the detectors' (Python's ``otel`` detector runs last, Java's environment
resource is merged last), so a string would replace the array that
``SelfdiscoverResourceDetector`` or an official ECS detector reports.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import quote, unquote

from . import _tags
from ._model import TaskInfo

VARIABLE = "OTEL_RESOURCE_ATTRIBUTES"

# The longest key or value (after decoding, in UTF-16 code units) JavaScript's envDetector accepts.
MAX_LENGTH = 255
# Besides quote()'s own A-Za-z0-9-._~: written as they are, in keys and values.
_SAFE = "/:"
_KEY_RE = re.compile(r"[A-Za-z0-9._~/:-]+")
# Never written, whoever asks: the application's name, not the ECS service.
NEVER = frozenset({"service.name"})


def resource_attributes(info: TaskInfo | Mapping[str, str], *, task_only: bool = False) -> dict[str, str]:
    """The string-valued attributes ``SelfdiscoverResourceDetector`` sets for
    ``info`` (a TaskInfo, or the canonical identity fields of ``_tags``).

    ``task_only``: without the attributes of the container the task was
    discovered from (``_tags.OTEL_CONTAINER_ATTRIBUTES``), for a file an init
    container writes for another container of its task.
    """
    identity = _tags.from_task(info) if isinstance(info, TaskInfo) else dict(info)
    return {
        key: value
        for key, value in _tags.otel_resource_attributes(identity).items()
        if isinstance(value, str)
        and key not in NEVER
        and not (task_only and key in _tags.OTEL_CONTAINER_ATTRIBUTES)
    }


def _utf16_length(text: str) -> int:
    """``text.length`` in JavaScript."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def encode(attributes: Mapping[str, str]) -> tuple[str, list[str]]:
    """The variable's value for ``attributes``, and one note for each attribute left out.

    Every SDK reads each written entry back as exactly the string given (the
    module's docstring says how); an entry some reader would reject is left
    out, so the others still arrive everywhere.
    """
    items: list[str] = []
    notes: list[str] = []
    for key, value in attributes.items():
        why = _unwritable(key, value)
        if why:
            notes.append(f"{VARIABLE}: {key[:80]!r} left out: {why}")
        else:
            items.append(f"{key}={quote(value, safe=_SAFE, encoding='utf-8', errors='strict')}")
    return ",".join(items), notes


def _unwritable(key: str, value: str) -> str:
    """Why some SDK would not read ``key=value`` back as written, or ""."""
    if key in NEVER:
        return "it names the application, not the ECS service (OTEL_SERVICE_NAME is the application's)"
    if not _KEY_RE.fullmatch(key):
        return "the key would need percent-encoding, and Python, Java and Go do not decode keys"
    if len(key) > MAX_LENGTH:
        return f"the key is {len(key)} characters long; JavaScript reads at most {MAX_LENGTH}"
    if not value:
        return "the value is empty; Java rejects the whole variable for an empty value"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "the value is not valid Unicode text (a lone surrogate has no UTF-8 form)"
    length = _utf16_length(value)
    if length > MAX_LENGTH:
        return (
            f"the value is {length} characters long; JavaScript reads at most {MAX_LENGTH}"
            " and discards the whole variable for one longer value"
        )
    return ""


def operator_keys(text: str) -> set[str]:
    """The keys an operator's ``OTEL_RESOURCE_ATTRIBUTES`` sets, read leniently:
    each as written (trimmed) and percent-decoded, since some readers decode
    keys and some do not; items without ``=`` set nothing."""
    keys: set[str] = set()
    for item in text.split(","):
        key, eq, _ = item.partition("=")
        key = key.strip()
        if eq and key:
            keys.update((key, unquote(key)))
    return keys


def merge(existing: str | None, ours: str) -> str:
    """``existing`` (the operator's variable) verbatim, then those of ``ours``
    (from ``encode()``) whose keys the operator did not set: theirs win."""
    if existing is None or not existing.strip():
        return ours
    theirs = operator_keys(existing)
    added = [item for item in ours.split(",") if item and item.partition("=")[0] not in theirs]
    if not added:
        return existing
    separator = "" if existing.rstrip().endswith(",") else ","
    return existing + separator + ",".join(added)
