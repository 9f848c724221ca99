"""Figures 1 and 2: start-up overhead of the shim and of ``import selfdiscover``.

Every command runs as a child process timed with ``time.perf_counter`` around
``subprocess.run``; the commands are interleaved round-robin (rotating the
order each round) so drift on a shared machine hits all of them alike, and
ratios are taken within the same run.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from _util import PY, SHIM, make_agent, running, scrubbed_env, shim_env, site_packages, summarize

HERE = os.path.dirname(os.path.abspath(__file__))
CURL_JQ = os.path.join(HERE, "curl_jq.sh")


@dataclass
class Cmd:
    name: str
    argv: list[str]
    env: Mapping[str, str]
    group: str  # "startup" | "import" | "clean"
    note: str = ""


def _cpu_children() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _time(cmds: list[Cmd], rounds: int, warmup: int) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Wall time and CPU time (user + sys of the child, from the kernel's
    accounting of reaped children) per command. CPU time is what a busy
    machine inflates least: waiting for a core is not counted."""
    res: dict[str, list[float]] = {c.name: [] for c in cmds}
    cpu: dict[str, list[float]] = {c.name: [] for c in cmds}
    for r in range(warmup + rounds):
        k = r % len(cmds)
        for c in cmds[k:] + cmds[:k]:
            c0 = _cpu_children()
            t0 = time.perf_counter()
            p = subprocess.run(
                c.argv,
                env=dict(c.env),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                timeout=60,
                check=False,
            )
            dt = time.perf_counter() - t0
            dc = _cpu_children() - c0
            if p.returncode != 0:
                err = p.stderr.decode(errors="replace")[-500:]
                raise RuntimeError(f"{c.name}: exit {p.returncode}: {err}")
            if r >= warmup:
                res[c.name].append(dt)
                cpu[c.name].append(dc)
    return res, cpu


# selfdiscover's own start-up cost: (command, baseline it is charged against).
OWN = (
    ("selfdiscover exec --no-env-file -- true", "python -c 'import urllib3'"),
    ("python -c 'import selfdiscover'", "python -c pass"),
    ("clean: selfdiscover exec --no-env-file -- true", "clean: python -S -c 'import urllib3'"),
    ("clean: python -S -c 'import selfdiscover'", "clean: python -S -c pass"),
)


def _own_cost(a: list[float], b: list[float]) -> dict[str, float]:
    """What ``a`` costs beyond ``b``, in seconds: the median (p10-p90) of the
    per-round differences (the two ran back to back, so a burst of other load
    mostly hits both), and the difference of the medians."""
    s = summarize([x - y for x, y in zip(a, b, strict=True)])
    return {
        "median": s.median,
        "p10": s.p10,
        "p90": s.p90,
        "median_minus_median": statistics.median(a) - statistics.median(b),
    }


def _paired_ratio(a: list[float], b: list[float]) -> dict[str, float]:
    """Per-round ratios a/b (same round, adjacent in time): their median and p10/p90."""
    rs = [x / y for x, y in zip(a, b, strict=True)]
    s = summarize(rs)
    return {"median": s.median, "p10": s.p10, "p90": s.p90}


# -- -X importtime -----------------------------------------------------------------


def parse_importtime(text: str) -> list[tuple[str, int, int, int]]:
    """(module, depth, self_us, cumulative_us) in the order Python printed them."""
    out = []
    for line in text.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        parts = line[len("import time:") :].split("|")
        if len(parts) != 3:
            continue
        raw = parts[2].rstrip()
        name = raw.lstrip()
        depth = (len(raw) - len(name) - 1) // 2
        out.append((name, depth, int(parts[0]), int(parts[1])))
    return out


def importtime(argv: list[str], env: Mapping[str, str], runs: int) -> dict[str, dict[str, float]]:
    """Median self/cumulative microseconds per module over ``runs`` runs."""
    samples: dict[str, dict[str, list[float]]] = {}
    depth: dict[str, int] = {}
    order: list[str] = []
    for _ in range(runs):
        p = subprocess.run(
            [argv[0], "-X", "importtime", *argv[1:]],
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=60,
            check=True,
        )
        for name, d, self_us, cum_us in parse_importtime(p.stderr.decode(errors="replace")):
            if name not in samples:
                samples[name] = {"self": [], "cum": []}
                order.append(name)
            depth[name] = d
            samples[name]["self"].append(self_us)
            samples[name]["cum"].append(cum_us)
    return {
        n: {
            "self_us": statistics.median(samples[n]["self"]),
            "cum_us": statistics.median(samples[n]["cum"]),
            "depth": depth[n],
            "order": i,
        }
        for i, n in enumerate(order)
    }


def _site_imports(mods: dict[str, dict[str, float]]) -> set[str]:
    """Modules imported while ``site`` ran (.pth files and friends): they are
    the interpreter's floor here, not the program's."""
    names = sorted(mods, key=lambda n: mods[n]["order"])
    if "site" not in mods:
        return set()
    end = names.index("site")
    start = end
    # Children print before their parent: walk back while deeper than site.
    while start > 0 and mods[names[start - 1]]["depth"] > mods["site"]["depth"]:
        start -= 1
    return set(names[start : end + 1])


# -- instructions (callgrind) ------------------------------------------------------

# Valgrind forgets a process that execs, so the shim's exec becomes an exit
# (an audit hook); the baselines carry the same hook and exit the same way,
# skipping the interpreter's clean-up as the exec does.
# A shim run that had to retry (a busy machine) exits 3: it would count retries.
_HOOK = (
    "import os, sys; sys.addaudithook("
    "lambda e, a: os._exit(3 if 'tenacity' in sys.modules else 0) if e == 'os.exec' else None)"
)
_SHIM_MAIN = "sys.argv = ['selfdiscover', *sys.argv[1:]]; from selfdiscover.cli import main; sys.exit(main())"


def instructions(argv: list[str], env: Mapping[str, str]) -> int | None:
    """Instructions one run executes (valgrind's callgrind: the same count on a
    busy machine as on an idle one), or None without valgrind or if it retried."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        return None
    p = subprocess.run(
        [valgrind, "--tool=callgrind", "--callgrind-out-file=/dev/null", *argv],
        env={**env, "PYTHONHASHSEED": "0"},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        timeout=300,
        check=False,
    )
    counts = [line.rsplit(":", 1)[1] for line in p.stderr.splitlines() if "Collected :" in line]
    if p.returncode == 3:
        return None
    if p.returncode != 0 or len(counts) != 1:
        raise RuntimeError(f"callgrind {argv}: exit {p.returncode}: {p.stderr[-500:]}")
    return int(counts[0].strip())


def own_instructions(
    agent: Any,
    env: Mapping[str, str],
    plain: Mapping[str, str],
    env_clean: Mapping[str, str],
    plain_clean: Mapping[str, str],
) -> dict[str, int | None]:
    """Instruction counts of the OWN commands and their baselines, by name."""
    exec_args = ["exec", "--no-env-file", "--", "true"]
    runs = {
        "python -c pass": ([PY, "-c", f"{_HOOK}; pass; os._exit(0)"], plain),
        "python -c 'import urllib3'": ([PY, "-c", f"{_HOOK}; import urllib3; os._exit(0)"], plain),
        "selfdiscover exec --no-env-file -- true": ([PY, "-c", f"{_HOOK}; {_SHIM_MAIN}", *exec_args], env),
        "python -c 'import selfdiscover'": ([PY, "-c", f"{_HOOK}; import selfdiscover; os._exit(0)"], plain),
        "clean: python -S -c pass": ([PY, "-S", "-c", f"{_HOOK}; pass; os._exit(0)"], plain_clean),
        "clean: python -S -c 'import urllib3'": (
            [PY, "-S", "-c", f"{_HOOK}; import urllib3; os._exit(0)"],
            plain_clean,
        ),
        "clean: selfdiscover exec --no-env-file -- true": (
            [PY, "-S", "-c", f"{_HOOK}; {_SHIM_MAIN}", *exec_args],
            env_clean,
        ),
        "clean: python -S -c 'import selfdiscover'": (
            [PY, "-S", "-c", f"{_HOOK}; import selfdiscover; os._exit(0)"],
            plain_clean,
        ),
    }
    out: dict[str, int | None] = {}
    for name, (argv, e) in runs.items():
        for _ in range(3):  # bounded: a run that had to retry is run again
            before = len(agent.requests)
            out[name] = instructions(argv, e)
            if out[name] is not None and ("exec" not in name or len(agent.requests) - before == 2):
                break
            out[name] = None
    return out


# -- import selfdiscover: modules and I/O -------------------------------------------

_PROBE = r"""
import json, os, sys
events = []
WATCH = ("open", "os.listdir", "os.scandir", "socket.connect", "socket.getaddrinfo", "socket.bind",
         "subprocess.Popen", "os.system", "os.posix_spawn", "os.exec", "os.fork", "ctypes.dlopen")
def hook(ev, args):
    if ev in WATCH:
        events.append((ev, repr(args)[:160], args[0] if args and isinstance(args[0], str) else None))
before = set(sys.modules)
sys.addaudithook(hook)
import selfdiscover
new = sorted(set(sys.modules) - before)
def machinery(p):
    return p is not None and (p.endswith((".py", ".pyc", ".so")) or os.path.isdir(p))
other = [(e, a) for e, a, p in events if not machinery(p)]
print(json.dumps({"modules": new, "other_io": other, "import_machinery_events": len(events) - len(other)}))
"""


def probe_import(env: Mapping[str, str], clean: bool) -> dict[str, Any]:
    argv = [PY, "-S", "-c", _PROBE] if clean else [PY, "-c", _PROBE]
    p = subprocess.run(argv, env=dict(env), capture_output=True, text=True, timeout=60, check=True)
    return json.loads(p.stdout)  # type: ignore[no-any-return]


HEAVY = ("inspect", "ast", "dis", "dataclasses", "typing", "urllib3", "http.client", "tenacity", "psutil",
         "argparse", "json", "email", "ssl", "socket", "asyncio", "logging")  # fmt: skip


# -- the figure ---------------------------------------------------------------------


def run(rounds: int, warmup: int, importtime_runs: int) -> dict[str, Any]:
    if not os.access(CURL_JQ, os.X_OK):
        raise RuntimeError(f"{CURL_JQ} is not executable")
    have_curl_jq = bool(shutil.which("curl") and shutil.which("jq"))
    tmp = tempfile.mkdtemp(prefix="sd-bench-")
    # "clean": no site / .pth processing (python -S) with site-packages and the
    # repo on PYTHONPATH, i.e. an interpreter whose site does nothing, as in a
    # slim image. On this machine .pth files (an editable-install finder and a
    # CA injector that imports certifi, importlib.resources, zipfile...) cost
    # every interpreter ~20 ms and pre-import modules selfdiscover would
    # otherwise be charged for.
    import selfdiscover

    repo = os.path.dirname(os.path.dirname(os.path.abspath(selfdiscover.__file__)))
    clean_pp = os.pathsep.join([repo, site_packages()])

    agent, curl_agent = make_agent(), make_agent()
    shipped = make_agent(go_like=False)  # the fake agent with its own socket settings
    try:
        with running(agent), running(curl_agent), running(shipped):
            env = shim_env(agent.url)
            env_shipped = shim_env(shipped.url)
            env_clean = {**env, "PYTHONPATH": clean_pp}
            plain = scrubbed_env()
            plain_clean = {**plain, "PYTHONPATH": clean_pp}
            curl_env = scrubbed_env(URL=curl_agent.url, ID=env["SELFDISCOVER_DOCKER_ID"])
            exec_argv = [SHIM, "exec", "--no-env-file", "--", "true"]
            cmds = [
                Cmd("python -c pass", [PY, "-c", "pass"], plain, "startup"),
                Cmd("python -c 'import urllib3'", [PY, "-c", "import urllib3"], plain, "startup"),
                Cmd("selfdiscover exec --no-env-file -- true", exec_argv, env, "startup"),
                Cmd(
                    "selfdiscover exec --env-file F -- true",
                    [SHIM, "exec", "--env-file", os.path.join(tmp, "ecs.env"), "--", "true"],
                    env,
                    "startup",
                ),
                Cmd(
                    "selfdiscover exec --no-env-file -- true [fake as shipped: Nagle]",
                    exec_argv,
                    env_shipped,
                    "startup",
                    "fake agent's own socket settings; see notes",
                ),
                Cmd("/bin/true (spawn floor)", ["/bin/true"], plain, "startup"),
                Cmd("python -c 'import selfdiscover'", [PY, "-c", "import selfdiscover"], plain, "import"),
                Cmd("clean: python -S -c pass", [PY, "-S", "-c", "pass"], plain_clean, "clean"),
                Cmd(
                    "clean: python -S -c 'import urllib3'",
                    [PY, "-S", "-c", "import urllib3"],
                    plain_clean,
                    "clean",
                ),
                Cmd(
                    "clean: selfdiscover exec --no-env-file -- true",
                    [PY, "-S", *exec_argv],
                    env_clean,
                    "clean",
                ),
                Cmd(
                    "clean: python -S -c 'import selfdiscover'",
                    [PY, "-S", "-c", "import selfdiscover"],
                    plain_clean,
                    "clean",
                ),
            ]
            if have_curl_jq:
                cmds.insert(
                    4,
                    Cmd(
                        "sh curl_jq.sh (curl | jq > file; exec true)",
                        [CURL_JQ, os.path.join(tmp, "curl.env"), "true"],
                        curl_env,
                        "startup",
                    ),
                )
            before = len(agent.requests)
            times, cpu_times = _time(cmds, rounds, warmup)
            on_agent = sum(1 for c in cmds if c.env.get("SELFDISCOVER_AGENT_URL") == agent.url)
            shim_runs = on_agent * (rounds + warmup)
            per_exec_requests = (len(agent.requests) - before) / shim_runs
            paths = sorted({r.path for r in agent.requests})
            it_exec = importtime([PY, *exec_argv], env, importtime_runs)
            it_urllib3 = importtime([PY, "-c", "import urllib3"], plain, importtime_runs)
            it_import = importtime([PY, "-c", "import selfdiscover"], plain, importtime_runs)
            probe = probe_import(plain, clean=False)
            probe_clean = probe_import(plain_clean, clean=True)
            ir = own_instructions(agent, env, plain, env_clean, plain_clean)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    stats = {name: summarize(v).as_dict() for name, v in times.items()}
    base_pass = times["python -c pass"]
    base_u3 = times["python -c 'import urllib3'"]
    ratios: dict[str, Any] = {}
    for c in cmds:
        if c.group == "clean":
            bp, bu = times["clean: python -S -c pass"], times["clean: python -S -c 'import urllib3'"]
        else:
            bp, bu = base_pass, base_u3
        ratios[c.name] = {
            "vs_pass": statistics.median(times[c.name]) / statistics.median(bp),
            "vs_urllib3": statistics.median(times[c.name]) / statistics.median(bu),
            "vs_urllib3_p10": summarize(times[c.name]).p10 / summarize(bu).p10,
            "paired_vs_urllib3": _paired_ratio(times[c.name], bu),
            "paired_vs_pass": _paired_ratio(times[c.name], bp),
        }

    own = {f"{name} minus {base}": _own_cost(times[name], times[base]) for name, base in OWN}
    own_cpu = {f"{name} minus {base}": _own_cost(cpu_times[name], cpu_times[base]) for name, base in OWN}
    # Instructions become milliseconds at the rate importing urllib3 ran at
    # here (import work, as selfdiscover's own is), from the fastest tenth of
    # rounds: (its instructions beyond pass) / (its p10 wall beyond pass's).
    ir_pass, ir_u3 = ir["python -c pass"], ir["python -c 'import urllib3'"]
    fast = summarize(times["python -c 'import urllib3'"]).p10 - summarize(times["python -c pass"]).p10
    per_ms = None if ir_pass is None or ir_u3 is None or fast <= 0 else (ir_u3 - ir_pass) / (fast * 1000)
    own_ir: dict[str, dict[str, float] | None] = {}
    for name, base in OWN:
        a, b = ir[name], ir[base]
        own_ir[f"{name} minus {base}"] = (
            None
            if a is None or b is None or per_ms is None
            else {"instructions": a - b, "ms_at_urllib3_rate": (a - b) / per_ms, "per_ms": per_ms}
        )

    site_mods = _site_imports(it_exec)
    u3_mods = set(it_urllib3)
    extra = {n: v for n, v in it_exec.items() if n not in u3_mods and n not in site_mods}
    top_level = sorted(
        (
            (n, v)
            for n, v in it_exec.items()
            if v["depth"] == 0 and n not in site_mods and n != "site"  # what the program itself imported
        ),
        key=lambda kv: -kv[1]["cum_us"],
    )
    by_self = sorted(
        ((n, v) for n, v in it_exec.items() if n not in site_mods), key=lambda kv: -kv[1]["self_us"]
    )
    imported = set(it_exec)
    import_extra = {n: v for n, v in it_import.items() if n not in _site_imports(it_import) and n != "site"}
    return {
        "rounds": rounds,
        "warmup": warmup,
        "commands": [{"name": c.name, "argv": c.argv, "group": c.group, "note": c.note} for c in cmds],
        "stats": stats,
        "ratios": ratios,
        "own_cost_s": own,
        "own_cost_cpu_s": own_cpu,
        "own_cost_instructions": own_ir,
        "instructions": ir,
        "cpu_stats": {name: summarize(v).as_dict() for name, v in cpu_times.items()},
        "requests_per_shim_run": per_exec_requests,
        "request_paths": paths,
        "importtime": {
            "runs": importtime_runs,
            "top_level_by_cumulative_us": [(n, v["cum_us"]) for n, v in top_level[:15]],
            "top_by_self_us": [(n, v["self_us"]) for n, v in by_self[:15]],
            "beyond_urllib3_floor": {
                "modules": len(extra),
                "self_us_sum": sum(v["self_us"] for v in extra.values()),
                "top": sorted(((n, v["self_us"]) for n, v in extra.items()), key=lambda kv: -kv[1])[:20],
            },
            "site_us": it_exec.get("site", {}).get("cum_us"),
            "imported": {m: (m in imported) for m in ("tenacity", "psutil", "argparse", "certifi", "ssl")},
            "import_selfdiscover_top": sorted(
                ((n, v["self_us"]) for n, v in import_extra.items()), key=lambda kv: -kv[1]
            )[:15],
            "import_selfdiscover_self_us_sum": sum(v["self_us"] for v in import_extra.values()),
        },
        "import_probe": {
            "modules": probe["modules"],
            "modules_clean": probe_clean["modules"],
            "other_io": probe["other_io"] + probe_clean["other_io"],
            "heavy_imported": sorted({m for m in probe["modules"] + probe_clean["modules"] if m in HEAVY}),
        },
    }
