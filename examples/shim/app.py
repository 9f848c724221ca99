"""A stand-in application: print what `selfdiscover exec` handed over.

It knows nothing about ECS or selfdiscover: it only reads its environment and
the env file, the way any program started by the shim would.
"""

from __future__ import annotations

import os

NAMES = (
    "ECS_TASK_FAMILY",
    "ECS_TASK_VERSION",
    "ECS_TASK_ARN",
    "ECS_TASK_ID",
    "ECS_CLUSTER",
    "ECS_CONTAINER_NAME",
    "ECS_CONTAINER_ID",
)


def main() -> int:
    print(f"app: pid {os.getpid()}, parent {os.getppid()}")
    for name in NAMES:
        print(f"app: {name}={os.environ.get(name, '')}")
    # The shim's default env file, or the one path SELFDISCOVER_ENV_FILE names.
    path = os.environ.get("SELFDISCOVER_ENV_FILE") or "/run/selfdiscover/ecs.env"
    try:
        with open(path, encoding="utf-8") as f:
            content = f.read()
    except OSError as e:
        print(f"app: no env file at {path}: {e.strerror}")
        return 0
    print(f"app: env file {path}:")
    print(content, end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
