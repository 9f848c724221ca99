"""Figure 6: cost per log record of ``selfdiscover.logging.install()`` on a
python-json-logger handler.

Three loggers, each with its own handler writing to a null stream, measured
interleaved (rotating order) so they share the machine's state:

* ``plain``: the JSON handler alone (the baseline);
* ``filter``: the same plus the ``EcsFilter`` that ``install()`` attaches;
* ``extra``: no filter, the same eleven keys passed with ``extra=``, so the
  part of the cost that is the JSON formatter writing eleven more fields can
  be told apart from the filter's own work.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from _util import summarize


class _Null:
    def write(self, s: str) -> int:
        return len(s)

    def flush(self) -> None:
        pass


IDENTITY = {
    "TASK_ARN": "arn:aws:ecs:us-west-2:111122223333:task/default/0123456789abcdef0123456789abcdef",
    "TASK_FAMILY": "bench",
    "TASK_VERSION": "7",
    "TASK_ID": "0123456789abcdef0123456789abcdef",
    "CLUSTER": "default",
    "CONTAINER_NAME": "app",
    "CONTAINER_ID": "4a1ef3c1d2b3a4f5e6d7c8b9a0f1e2d3c4b5a6f7e8d9c0b1a2f3e4d5c6b7a8f9",
    "REGION": "us-west-2",
    "ACCOUNT_ID": "111122223333",
    "AVAILABILITY_ZONE": "us-west-2a",
    "LAUNCH_TYPE": "EC2",
}
FMT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def _logger(name: str) -> logging.Logger:
    from pythonjsonlogger.json import JsonFormatter

    lg = logging.getLogger(f"selfdiscover-bench.{name}")
    lg.handlers.clear()
    lg.propagate = False
    lg.setLevel(logging.INFO)
    h = logging.StreamHandler(_Null())  # type: ignore[arg-type]
    h.setFormatter(JsonFormatter(FMT))
    lg.addHandler(h)
    return lg


def _filter_alone(flt: logging.Filter, records: int, rounds: int) -> float:
    """Median seconds of one ``filter(record)`` call on a fresh record (record
    creation timed separately and subtracted)."""
    make = logging.LogRecord
    args = ("bench", logging.INFO, __file__, 1, "request %d handled", (1,), None)
    out = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(records):
            make(*args)
        t1 = time.perf_counter()
        for _ in range(records):
            flt.filter(make(*args))
        t2 = time.perf_counter()
        out.append(((t2 - t1) - (t1 - t0)) / records)
    return summarize(out).median


def run(records: int, rounds: int) -> dict[str, Any]:
    from selfdiscover import _tags
    from selfdiscover import logging as sdlog

    saved = _tags._identity
    _tags.set_identity(IDENTITY)
    try:
        plain = _logger("plain")
        filtered = _logger("filter")
        sdlog.install(logger=filtered, load_identity=False)
        nested = _logger("nested")
        sdlog.install("nested", logger=nested, load_identity=False)
        datadog = _logger("datadog")
        sdlog.install("datadog", logger=datadog, load_identity=False)
        extra_lg = _logger("extra")
        extra = dict(_tags.tags("flat"))  # the very keys and values the filter adds

        # What a record looks like with the filter, for the report.
        sample: dict[str, Any] = {}

        class _Grab(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                sample.update({k: v for k, v in record.__dict__.items() if k.startswith("ecs_")})

        grab = _Grab()
        filtered.addHandler(grab)  # install() hooked addHandler: this one gets the filter too
        filtered.info("sample")
        filtered.removeHandler(grab)

        cases = {
            "plain": lambda i: plain.info("request %d handled", i),
            "filter": lambda i: filtered.info("request %d handled", i),
            "extra": lambda i: extra_lg.info("request %d handled", i, extra=extra),
            "filter nested": lambda i: nested.info("request %d handled", i),
            "filter datadog": lambda i: datadog.info("request %d handled", i),
        }
        per: dict[str, list[float]] = {k: [] for k in cases}
        names = list(cases)
        for r in range(rounds + 1):  # round 0 warms up
            k = r % len(names)
            for name in names[k:] + names[:k]:
                fn = cases[name]
                t0 = time.perf_counter()
                for i in range(records):
                    fn(i)
                dt = (time.perf_counter() - t0) / records
                if r:
                    per[name].append(dt)
        own = _filter_alone(sdlog.EcsFilter("flat"), records, rounds)
        for lg in (filtered, nested, datadog):
            sdlog.uninstall(lg)
    finally:
        _tags._identity = saved
        _tags._version += 1

    med = {k: summarize(v).median for k, v in per.items()}
    paired = [f / p for f, p in zip(per["filter"], per["plain"], strict=True)]
    return {
        "records_per_round": records,
        "rounds": rounds,
        "per_record_s": {k: summarize(v).as_dict() for k, v in per.items()},
        "ratio_filter_vs_plain": med["filter"] / med["plain"],
        "ratio_filter_vs_plain_paired": summarize(paired).as_dict(),
        "ratio_extra_vs_plain": med["extra"] / med["plain"],
        "ratio_nested_vs_plain": med["filter nested"] / med["plain"],
        "ratio_datadog_vs_plain": med["filter datadog"] / med["plain"],
        "filter_call_s": own,
        "filter_call_ratio": own / med["plain"],
        "keys_added": sorted(sample),
        "formatter": "pythonjsonlogger.json.JsonFormatter('" + FMT + "')",
    }
