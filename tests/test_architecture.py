"""The open core's layering, checked on the source: families build on the core's public API.

* the core imports no family (and no datasets, metrics, demo or benchmark);
* no import cycle anywhere in ``skunfold`` (the graph of every module's imports);
* families import from the core only names of ``skunfold.core.__all__``, and only
  from ``skunfold.core`` itself (never ``skunfold.core.<submodule>``);
* families read no private attribute of core objects, and override no private
  method of the core's estimator base;
* the core's public contract stays small (at most 40 names), no public estimator
  takes more than 26 parameters (25, plus the core's keep_best);
* the core reads no estimator parameter with a ``getattr`` default (parameters
  are read through the parameter table);
* every family has the same layout: ``problem.py``, ``iterations.py``,
  ``classical.py``, ``estimators.py``;
* no module is over 550 lines.
"""

import ast
import importlib
import inspect
import pathlib

import pytest

import skunfold
import skunfold.core
from skunfold.core import UnfoldedEstimator
from skunfold.core.parameters import CORE_PARAMETERS

ROOT = pathlib.Path(skunfold.__file__).parent
CORE = ROOT / "core"
FAMILIES = sorted(p.name for p in ROOT.iterdir()
                  if p.is_dir() and (p / "__init__.py").exists() and p.name not in ("core",
                                                                                  "datasets"))
MODULES = sorted(ROOT.rglob("*.py"))
LAYOUT = ("problem.py", "iterations.py", "classical.py", "estimators.py")


def _module_name(path):
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _package(path):
    name = _module_name(path)
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


def _imports(path):
    """``(module, names, node)`` of every import of a source file, relative imports resolved."""
    package = _package(path)
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            out.append((module, [a.name for a in node.names], node))
        elif isinstance(node, ast.Import):
            out.extend((a.name, [], node) for a in node.names)
    return out


MODULE_NAMES = {_module_name(p): p for p in MODULES}


def _targets(module, names):
    """The modules of ``skunfold`` an import loads directly (a name may be a submodule)."""
    if module not in MODULE_NAMES:
        return set()
    found = {f"{module}.{n}" for n in names if f"{module}.{n}" in MODULE_NAMES}
    if len(found) < len(names) or not names:
        found.add(module)
    return found


def _import_graph():
    graph = {}
    for path in MODULES:
        name = _module_name(path)
        graph[name] = set()
        for module, names, _ in _imports(path):
            graph[name] |= _targets(module, names) - {name}
    return graph


def _find_cycle(graph):
    """One cycle of ``graph`` as a list of nodes (first == last), or ``None``."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_there_are_families():
    assert {"sparse", "rpca", "mimo"} <= set(FAMILIES)


@pytest.mark.parametrize("path", sorted(CORE.glob("*.py")), ids=lambda p: p.name)
def test_the_core_imports_no_family(path):
    for module, _, _ in _imports(path):
        parts = module.split(".")
        if parts[0] == "skunfold":
            assert len(parts) > 1 and parts[1] == "core", f"{path.name} imports {module}"
        assert parts[0] not in ("benchmarks", "examples"), f"{path.name} imports {module}"


def test_the_cycle_finder_finds_cycles():
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None
    # relative imports are resolved; a name that is a submodule is an edge to it
    assert _targets("skunfold.core", ["constraints"]) == {"skunfold.core.constraints"}
    assert _targets("skunfold.core", ["Problem"]) == {"skunfold.core"}
    graph = _import_graph()
    assert "skunfold.core.problem" in graph["skunfold.core"]
    assert "skunfold.core" in graph["skunfold.sparse.estimators"]


def test_no_import_cycle():
    graph = _import_graph()
    cycle = _find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


@pytest.mark.parametrize("family", FAMILIES)
def test_families_import_only_the_public_core_from_the_core(family):
    public = set(skunfold.core.__all__)
    bad = []
    for path in sorted((ROOT / family).rglob("*.py")):
        where = f"{path.relative_to(ROOT)}"
        for module, names, node in _imports(path):
            if module == "skunfold" and "core" in names:
                bad.append(f"{where}:{node.lineno} imports skunfold.core as a module")
            if not module.startswith("skunfold.core"):
                continue
            if module != "skunfold.core":
                bad.append(f"{where}:{node.lineno} imports from {module} (use skunfold.core)")
            elif isinstance(node, ast.Import):
                bad.append(f"{where}:{node.lineno} imports the module skunfold.core")
            else:
                outside = sorted(set(names) - public)
                if outside:
                    bad.append(f"{where}:{node.lineno} imports {outside}, not in "
                               "skunfold.core.__all__")
    assert not bad, "\n".join(bad)


def _private_names_defined(paths):
    """Private (not dunder) attribute and method names defined in ``paths``.

    Methods and class attributes whose name starts with ``_``, and attributes
    assigned as ``<anything>._name = ...``.
    """
    names = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                for item in node.body:
                    if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                        names.add(item.name)
                    elif isinstance(item, (ast.Assign, ast.AnnAssign)):
                        targets = item.targets if isinstance(item, ast.Assign) else [item.target]
                        names.update(t.id for t in targets if isinstance(t, ast.Name))
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                names.add(node.attr)
    return {n for n in names if n.startswith("_") and not n.startswith("__")}


CORE_PRIVATE = _private_names_defined(sorted(CORE.glob("*.py")))


def test_the_core_has_private_names_to_protect():
    assert {"_fit", "_settings", "_module", "_input_shape", "_side_names"} <= CORE_PRIVATE


@pytest.mark.parametrize("family", FAMILIES)
def test_families_read_no_private_attribute_of_core_objects(family):
    paths = sorted((ROOT / family).rglob("*.py"))
    own = _private_names_defined(paths)   # a family's own private attributes are its business
    forbidden = CORE_PRIVATE - own
    bad = []
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in forbidden:
                bad.append(f"{path.relative_to(ROOT)}:{node.lineno} reads .{node.attr}")
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                    and node.func.id in ("getattr", "setattr", "hasattr") and len(node.args) > 1 \
                    and isinstance(node.args[1], ast.Constant) and node.args[1].value in forbidden:
                bad.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.func.id}s "
                           f"{node.args[1].value!r}")
    assert not bad, "\n".join(bad)


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


def test_the_public_core_stays_small():
    names = skunfold.core.__all__
    assert len(names) == len(set(names)) <= 40
    for name in names:
        assert hasattr(skunfold.core, name), name


@pytest.mark.parametrize("family", FAMILIES)
def test_public_estimators_take_at_most_26_parameters(family):
    estimators = list(_estimators(family))
    assert estimators, f"skunfold.{family} exports no estimator"
    for cls in estimators:
        params = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
        assert len(params) <= 26, f"{cls.__name__} takes {len(params)} parameters"
        assert "verbose" in params, f"{cls.__name__} takes no verbose"


def test_the_core_reads_no_parameter_through_a_getattr_default():
    bad = []
    for path in sorted(CORE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                    and node.func.id == "getattr" and len(node.args) == 3 \
                    and isinstance(node.args[1], ast.Constant) \
                    and node.args[1].value in CORE_PARAMETERS:
                bad.append(f"{path.name}:{node.lineno} getattr(..., {node.args[1].value!r}, ...)")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_has_the_same_layout(family):
    missing = [name for name in LAYOUT if not (ROOT / family / name).exists()]
    assert not missing, f"skunfold/{family} lacks {missing}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_modules_stay_small(path):
    assert len(path.read_text().splitlines()) <= 550
