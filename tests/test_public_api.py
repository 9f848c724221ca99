"""The package's public names: one list at run time (``_LAZY``), and the same
names re-exported to type checkers, which cannot see through ``__getattr__``."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import selfdiscover


def _type_checking_exports() -> dict[str, str]:
    """``{name: module}`` for each ``from M import X as X`` under ``if TYPE_CHECKING``."""
    tree = ast.parse(Path(selfdiscover.__file__).read_text(encoding="utf-8"))
    block = next(n for n in tree.body if isinstance(n, ast.If) and ast.unparse(n.test) == "TYPE_CHECKING")
    found: dict[str, str] = {}
    for node in block.body:
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            for alias in node.names:
                if alias.asname == alias.name:
                    found[alias.name] = "." + (node.module or "")
    return found


def test_type_checkers_see_exactly_the_lazy_names() -> None:
    assert _type_checking_exports() == selfdiscover._LAZY


def test_all_and_dir_follow_the_one_list() -> None:
    assert selfdiscover.__all__ == ["__version__", *selfdiscover._LAZY]
    assert dir(selfdiscover) == sorted(selfdiscover.__all__)
    for name, module in selfdiscover._LAZY.items():
        assert getattr(selfdiscover, name) is getattr(importlib.import_module(module, "selfdiscover"), name)
