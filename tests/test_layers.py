"""Layering: library code never imports the command layer.

``synthtumor.commands`` and ``synthtumor.cli`` sit on top of the library and may import anything;
every other module under ``synthtumor/`` must not import ``synthtumor.commands`` (not even lazily,
inside a function), so the command layer only ever calls down.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parents[1] / "synthtumor"
COMMANDS = "synthtumor.commands"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _library_modules() -> list[Path]:
    modules = []
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        rel = path.relative_to(PACKAGE_DIR)
        if rel.parts[0] == "commands" or rel == Path("cli.py"):
            continue
        modules.append(path)
    return modules


def _is_commands(name: str) -> bool:
    return name == COMMANDS or name.startswith(COMMANDS + ".")


def _resolve(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    """The absolute module an ``ImportFrom`` names (relative imports resolved)."""
    if not node.level:
        return node.module or ""
    package = module.split(".") if is_package else module.split(".")[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _command_imports(source: str, module: str, is_package: bool = False) -> list[str]:
    """``line N: statement`` for each import of ``synthtumor.commands`` in a module's source."""
    tree = ast.parse(source, filename=module)
    found = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(node, module, is_package)
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                names = [node.args[0].value]
        if any(_is_commands(name) for name in names):
            found.append(f"line {node.lineno}: {ast.unparse(node)}")
    return found


def test_the_walk_sees_the_library():
    modules = {_module_name(p) for p in _library_modules()}
    assert {"synthtumor", "synthtumor.phantom.cohort", "synthtumor.metrics.dataset_eval",
            "synthtumor.train_seg.study"} <= modules
    assert not any(_is_commands(m) or m == "synthtumor.cli" for m in modules)


@pytest.mark.parametrize(("source", "bad"), [
    ("import synthtumor.commands.info", True),
    ("import synthtumor.commands as c", True),
    ("from synthtumor.commands.evaluate import run_evaluate", True),
    ("from synthtumor import commands", True),
    ("from ..commands import info", True),
    ("from .. import commands", True),
    ("def f():\n    from synthtumor.commands import demo", True),
    ("import importlib\nimportlib.import_module('synthtumor.commands.demo')", True),
    ("from synthtumor.metrics import overlap", False),
    ("from . import overlap", False),
    ("from ..io import layouts", False),
    ("import synthtumor.commandsx", False),
])
def test_the_check_catches_command_imports(source, bad):
    assert bool(_command_imports(source + "\n", "synthtumor.metrics.probe")) is bad


@pytest.mark.parametrize("path", _library_modules(), ids=_module_name)
def test_library_does_not_import_commands(path):
    found = _command_imports(path.read_text(encoding="utf-8"), _module_name(path), path.name == "__init__.py")
    assert not found, (f"{_module_name(path)} ({path.relative_to(PACKAGE_DIR.parent)}) imports the command "
                       f"layer synthtumor.commands; move what it needs into the library: " + "; ".join(found))
