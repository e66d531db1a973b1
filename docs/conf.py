"""Sphinx configuration of the skunfold documentation.

Builds offline (no intersphinx): ``python -m sphinx -W --keep-going -b html docs docs/_build/html``.
The API pages of every importable sub-package of skunfold are written to
``docs/generated/api/`` when this file is read, so a new problem family shows
up in the reference without editing the docs. A sub-package that declares its
public names in groups (``skunfold.core``: ``USING`` and ``EXTENDING``) gets one
section per group; a module it exports by name (``skunfold.core.constraints``)
gets a page of its own.
"""

import importlib
import inspect
import os
import pkgutil
import sys
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import skunfold  # noqa: E402

# -- project -----------------------------------------------------------------
project = "skunfold"
author = "the skunfold developers"
copyright = "the skunfold developers"
release = skunfold.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "**.ipynb_checkpoints"]
# the API index includes the generated family pages by glob; a family that is not
# importable simply has no page
suppress_warnings = ["toc.empty_glob"]
default_role = "literal"
add_module_names = False

# -- autodoc / autosummary / numpydoc -----------------------------------------
autosummary_generate = True
autosummary_imported_members = True
autodoc_typehints = "none"
autodoc_member_order = "groupwise"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False

# No network: intersphinx is deliberately not enabled.

# -- sphinx-gallery -----------------------------------------------------------
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("OMP_NUM_THREADS", "1")
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "abort_on_example_error": False,
    "only_warn_on_example_error": False,
}
warnings.filterwarnings("ignore", category=UserWarning,
                        message="Matplotlib is currently using agg")

# -- HTML ---------------------------------------------------------------------
try:
    import pydata_sphinx_theme  # noqa: F401

    html_theme = "pydata_sphinx_theme"
    html_theme_options = {
        "navigation_with_keys": False,
        "show_toc_level": 2,
        "header_links_before_dropdown": 6,
        "secondary_sidebar_items": ["page-toc"],
    }
except ImportError:  # pragma: no cover - the docs extra installs it
    html_theme = "alabaster"
html_title = f"skunfold {release}"
html_static_path = []
html_show_sourcelink = False


# -- API pages, one per importable sub-package ------------------------------------
#: Preferred order of the API sections; other sub-packages follow alphabetically.
API_ORDER = ["core", "sparse", "rpca", "mimo", "power", "beamforming", "datasets", "metrics"]
#: Modules that are entry points, not API.
API_SKIP = {"demo", "__main__"}


def _api_modules():
    found = [m.name for m in pkgutil.iter_modules(skunfold.__path__)
             if not m.name.startswith("_") and m.name not in API_SKIP]
    rank = {name: i for i, name in enumerate(API_ORDER)}
    return sorted(found, key=lambda name: (rank.get(name, len(API_ORDER)), name))


def _public_names(module):
    names = getattr(module, "__all__", None)
    if names is None:
        names = [n for n, obj in vars(module).items()
                 if not n.startswith("_") and getattr(obj, "__module__", "").startswith(
                     module.__name__)]
    return names


def _members(module, names):
    classes, functions, data = [], [], []
    for name in names:
        obj = getattr(module, name)
        if inspect.isclass(obj):
            classes.append(name)
        elif inspect.isroutine(obj):
            functions.append(name)
        elif not inspect.ismodule(obj):
            data.append(name)
    return classes, functions, data


def _autosummary(heading, items, underline="-"):
    """An autosummary table of ``items`` (stubs in ``generated/``, from ``_templates``)."""
    if not items:
        return []
    return [heading, underline * len(heading), "", ".. autosummary::", "   :toctree: ..",
            "   :nosignatures:", ""] + [f"   {item}" for item in items] + [""]


def _module_page(modname):
    """The page of a module exported as a name (e.g. ``skunfold.core.constraints``)."""
    title = f"``{modname}``"
    return "\n".join([title, "=" * len(title), "", f".. automodule:: {modname}",
                      "   :members:", ""])


#: The groups of a module that declares its public names in groups (``skunfold.core``:
#: ``USING`` and ``EXTENDING``), with their headings and introductions.
API_GROUPS = [
    ("USING", "Using", "What a user of the estimators calls or passes: the estimators, the "
     "description of a solver, training data, loss schedules, option objects, errors and the "
     "checks of parameters and data."),
    ("EXTENDING", "Extending", "What a problem family or a user's own solver is written with "
     "(see :doc:`/custom_solver` and :doc:`/contributing`): parameter rows, iteration modules, "
     "the unfolded module and numerical helpers."),
]


def _members_page(module, names, out, lines, underline):
    """Append the tables of ``names`` to ``lines``; write the pages of exported modules."""
    classes, functions, data = _members(module, names)
    for heading, items in (("Classes", classes), ("Functions", functions),
                           ("Objects", data)):
        lines += _autosummary(heading, items, underline)
    modules = [n for n in names if inspect.ismodule(getattr(module, n))]
    if modules:
        lines += ["Modules", underline * len("Modules"), "", ".. toctree::", "   :maxdepth: 1",
                  ""]
        for name in modules:
            modname = getattr(module, name).__name__
            path = out / "modules" / f"{modname}.rst"
            path.parent.mkdir(exist_ok=True)
            text = _module_page(modname)
            if not path.exists() or path.read_text() != text:
                path.write_text(text)
            lines.append(f"   modules/{modname}")
        lines.append("")


def _write_api_pages():
    out = HERE / "generated" / "api"
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for i, name in enumerate(_api_modules()):
        modname = f"skunfold.{name}"
        try:
            module = importlib.import_module(modname)
        except Exception as exc:  # a family under construction must not break the build
            print(f"[skunfold docs] not documenting {modname}: import failed ({exc!r})")
            continue
        doc = inspect.getdoc(module) or modname
        summary = doc.strip().splitlines()[0].rstrip(".")
        title = f"``{modname}``: {summary}"
        lines = [f".. _api-{name}:", "", title, "=" * len(title), "",
                 f".. automodule:: {modname}", "   :no-members:", "",
                 f".. currentmodule:: {modname}", ""]
        groups = [(getattr(module, attr), heading, intro) for attr, heading, intro in API_GROUPS
                  if hasattr(module, attr)]
        if groups:
            # the stubs use _templates/autosummary/{class,function,data}.rst
            for names, heading, intro in groups:
                lines += [heading, "-" * len(heading), "", intro, ""]
                _members_page(module, names, out, lines, "~")
        else:
            _members_page(module, _public_names(module), out, lines, "-")
        text = "\n".join(lines)
        path = out / f"{i:02d}_{name}.rst"
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
        written.append(path.name)
    for stale in out.glob("*.rst"):
        if stale.name not in written:
            stale.unlink()


_write_api_pages()


# -- docstring fix-ups ----------------------------------------------------------
import re  # noqa: E402

_SHAPE = re.compile(r"shape \(([^)]*)\)")
_FITTED_NAME = re.compile(r"(?<![`\w])([A-Za-z]\w*_)(?![`\w])")


def _quote_fitted_names(app, what, name, obj, options, lines):
    """Quote fitted-attribute names in shapes, e.g. ``(n_features_in_,)``.

    A bare word ending in ``_`` is a hyperlink reference in reStructuredText.
    """
    for i, line in enumerate(lines):
        if "_" in line and "shape (" in line:
            lines[i] = _SHAPE.sub(
                lambda m: "shape (" + _FITTED_NAME.sub(r"`\1`", m.group(1)) + ")", line)


def _skip_foreign_members(app, what, name, obj, skip, options):
    """Document only the members a class gets from skunfold itself.

    Class pages list inherited members (``fit``, ``predict`` come from mixins
    and base classes of skunfold), but not the ones of scikit-learn, skorch or
    torch base classes (``get_params``, ``set_fit_request``, ``nn.Module``'s
    methods), whose docstrings refer to those projects' own documentation.
    """
    if what != "class":
        return None
    target = obj.fget if isinstance(obj, property) else obj
    module = getattr(target, "__module__", None)
    if isinstance(module, str) and not module.startswith("skunfold"):
        return True
    if module is None and (inspect.ismethoddescriptor(target) or inspect.isbuiltin(target)):
        return True  # e.g. tuple.count on a NamedTuple
    return None


def setup(app):
    # before numpydoc (priority 500) parses the docstrings
    app.connect("autodoc-process-docstring", _quote_fitted_names, priority=100)
    app.connect("autodoc-skip-member", _skip_foreign_members)
