"""Env files that real readers decode to exactly the values given, written
atomically: the public face of ``selfdiscover._outputs.envfile``, where the
dialects and their rules are documented."""

from ._outputs.envfile import DIALECTS, render, write, write_atomic

__all__ = ["DIALECTS", "render", "write", "write_atomic"]
