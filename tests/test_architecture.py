"""The open core's layering, checked on the source: families build on the core's public API.

* the core imports no family (and no datasets, demo or benchmark);
* no family file imports a private name of the core;
* no family estimator overrides a private method of the core's estimator base;
* no module is much over 500 lines.
"""

import ast
import importlib
import inspect
import pathlib

import pytest

import skunfold
from skunfold.core import UnfoldedEstimator

ROOT = pathlib.Path(skunfold.__file__).parent
FAMILIES = sorted(p.name for p in ROOT.iterdir()
                  if p.is_dir() and (p / "__init__.py").exists() and p.name not in ("core",
                                                                                  "datasets"))
MODULES = sorted(ROOT.rglob("*.py"))


def _imports(path):
    """(module, names) of every import of a source file, relative imports resolved."""
    package = ".".join(path.relative_to(ROOT.parent).with_suffix("").parts[:-1])
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")
            if node.level:
                base = base[:len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            out.append((module, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            out.extend((a.name, []) for a in node.names)
    return out


def test_there_are_families():
    assert {"sparse", "rpca", "mimo"} <= set(FAMILIES)


@pytest.mark.parametrize("path", sorted((ROOT / "core").glob("*.py")), ids=lambda p: p.name)
def test_the_core_imports_no_family(path):
    for module, _ in _imports(path):
        parts = module.split(".")
        if parts[0] == "skunfold":
            assert parts[1] == "core", f"{path.name} imports {module}"


@pytest.mark.parametrize("family", FAMILIES)
def test_families_import_only_public_core_names(family):
    for path in (ROOT / family).rglob("*.py"):
        for module, names in _imports(path):
            if not module.startswith("skunfold.core"):
                continue
            private = [p for p in module.split(".") if p.startswith("_")]
            private += [n for n in names if n.startswith("_")]
            assert not private, f"{path.relative_to(ROOT)} imports {private} from {module}"


def _estimators(family):
    module = importlib.import_module(f"skunfold.{family}")
    for name in getattr(module, "__all__", []):
        obj = getattr(module, name)
        if inspect.isclass(obj) and issubclass(obj, UnfoldedEstimator):
            yield obj


@pytest.mark.parametrize("family", FAMILIES)
def test_families_override_no_private_method_of_the_base(family):
    base_private = {name for klass in UnfoldedEstimator.__mro__
                    for name in vars(klass) if name.startswith("_") and not name.startswith("__")}
    for cls in _estimators(family):
        for klass in cls.__mro__:
            if klass.__module__.startswith("skunfold.core") or klass.__module__.startswith(
                    "sklearn") or klass is object:
                continue
            overridden = base_private & {n for n in vars(klass) if not n.startswith("__")}
            assert not overridden, f"{klass.__name__} overrides {sorted(overridden)}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_modules_stay_small(path):
    assert len(path.read_text().splitlines()) <= 550
