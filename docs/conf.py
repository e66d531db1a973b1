"""Sphinx configuration of the skunfold documentation.

Builds offline (no intersphinx): ``python -m sphinx -W --keep-going -b html docs docs/_build/html``.
The API pages of every importable sub-package of skunfold are written to
``docs/generated/api/`` when this file is read, so a new problem family shows
up in the reference without editing the docs. A sub-package that declares its
public names in groups (``skunfold.core``: ``USING`` and ``EXTENDING``) gets one
section per group; a module it exports by name (``skunfold.core.constraints``)
gets a page of its own. The landing page (``api.rst``) includes
``docs/generated/api_tables.inc``: one table per sub-package (one per group for
the core), with short names and one-line summaries.
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
sys.path.insert(0, str(HERE))  # docs/gallery_checks.py

import skunfold  # noqa: E402

# -- project -----------------------------------------------------------------
project = "skunfold"
author = "the skunfold developers"
copyright = "2026, the skunfold developers"
release = skunfold.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    # every documented object links to its highlighted source (_modules/...)
    "sphinx.ext.viewcode",
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
# short names in the pages' tables of contents too ("fit()", not "UnfoldedISTA.fit()")
toc_object_entries_show_parents = "hide"

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
# The checks of the gallery's outputs (an empty axes, a printed object repr) live in
# docs/gallery_checks.py; the build still runs where that file is absent.
try:
    from gallery_checks import (
        EmptyAxesCheckingScraper,
        WarningsWithoutPaths,
        check_example_outputs,
    )
except ImportError:  # pragma: no cover - the checks are part of the repository
    EmptyAxesCheckingScraper = WarningsWithoutPaths = check_example_outputs = None
if EmptyAxesCheckingScraper is None:
    _image_scrapers = ("matplotlib",)
elif inspect.isclass(EmptyAxesCheckingScraper):
    _image_scrapers = (EmptyAxesCheckingScraper(),)
else:
    _image_scrapers = (EmptyAxesCheckingScraper,)
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    # the topics of the gallery, in reading order (folders of examples/)
    "subsection_order": ["../examples/sparse_recovery", "../examples/robust_pca",
                         "../examples/communications", "../examples/imaging",
                         "../examples/beyond_fixed_depth", "../examples/your_own_solver",
                         "../examples/deployment"],
    "abort_on_example_error": False,
    "only_warn_on_example_error": False,
    "image_scrapers": _image_scrapers,
    # a warning an example emits is shown as "ConvergenceWarning: ...", without the
    # absolute path of the example file on the build machine
    "reset_modules": ("matplotlib", "seaborn")
    + ((WarningsWithoutPaths(),) if WarningsWithoutPaths is not None else ()),
}
warnings.filterwarnings("ignore", category=UserWarning,
                        message="Matplotlib is currently using agg")

# -- HTML ---------------------------------------------------------------------
#: Icons of the ``[project.urls]`` entries shown in the header, by lower-case label.
PROJECT_URL_ICONS = {
    "source": "fa-brands fa-github", "repository": "fa-brands fa-github",
    "homepage": "fa-solid fa-house", "package": "fa-brands fa-python",
}


def project_icon_links(pyproject):
    """The header's icon links: the ``[project.urls]`` of ``pyproject`` that it names.

    An entry labelled (case-insensitively) "Source", "Repository", "Homepage"
    or "Package" becomes a pydata-sphinx-theme icon link, in that order, with
    its own label; a repository that is not on GitHub gets a generic code
    icon. No file, no ``[project.urls]`` or none of these labels: no links
    (skunfold's pyproject.toml names no URLs yet).
    """
    try:
        import tomllib
    except ImportError:  # pragma: no cover - Python < 3.11
        return []
    try:
        with open(pyproject, "rb") as f:
            urls = tomllib.load(f).get("project", {}).get("urls", {})
    except (OSError, ValueError):
        return []
    by_label = {label.strip().lower(): (label, url) for label, url in urls.items()}
    links = []
    for key, icon in PROJECT_URL_ICONS.items():
        if key in by_label:
            label, url = by_label[key]
            if icon == "fa-brands fa-github" and "github.com" not in url:
                icon = "fa-solid fa-code"
            links.append({"name": label, "url": url, "icon": icon, "type": "fontawesome"})
    return links


try:
    import pydata_sphinx_theme  # noqa: F401

    html_theme = "pydata_sphinx_theme"
    html_theme_options = {
        # the name and version on every page, next to the logo
        "logo": {"text": f"skunfold {release}", "alt_text": "skunfold"},
        # the source repository and package page named in pyproject.toml's
        # [project.urls], if any (none yet), as icons in the header
        "icon_links": project_icon_links(HERE.parent / "pyproject.toml"),
        # "Source": the highlighted code of every module (viewcode's _modules/index)
        "navbar_end": ["navbar-source", "theme-switcher", "navbar-icon-links"],
        "navigation_with_keys": False,
        "show_toc_level": 2,
        "header_links_before_dropdown": 6,
        "secondary_sidebar_items": ["page-toc"],
    }
except ImportError:  # pragma: no cover - the docs extra installs it
    html_theme = "alabaster"
html_title = f"skunfold {release}"
html_logo = "_static/skunfold-logo.svg"
html_favicon = "_static/skunfold-logo.svg"
html_static_path = ["_static"]
html_show_sourcelink = False


def _sidebars():
    """The left sidebar of each page (``html_sidebars``).

    The API pages list the sub-package pages only (the class and function pages
    are reached from their tables), and a top-level page without a sub-toctree
    (the user guide, ...) lists the site's top-level pages instead of an empty
    "Section Navigation"; the other pages keep the theme's default.
    """
    sidebars = {"api": ["sidebar-nav-api.html"], "generated/**": ["sidebar-nav-api.html"]}
    for name in _toctree_entries(HERE / "index.rst"):
        page = HERE / f"{name}.rst"
        if page.exists() and ".. toctree::" not in page.read_text(encoding="utf-8"):
            sidebars[name] = ["sidebar-site.html"]
    return sidebars


def _toctree_entries(page):
    """The documents listed in the toctrees of ``page`` (options and captions skipped)."""
    entries, inside = [], False
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.startswith(".. toctree::"):
            inside = True
        elif inside and line and not line[0].isspace():
            inside = False
        elif inside and line.strip() and not line.strip().startswith(":"):
            entries.append(line.strip())
    return entries


html_sidebars = _sidebars()


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


#: The documented members of a module exported as a name, in groups (heading,
#: introduction, names); the module's other names are helpers used inside skunfold.
API_MODULE_GROUPS = {
    "skunfold.core.constraints": [
        ("Checks of parameter rows", "Factories of the ``check(value, name)`` callables "
         "that :class:`~skunfold.core.Param` rows hold.",
         ["integer", "real", "options", "open_unit", "boolean", "layer_sizes"]),
        ("Checks of data", "Input checks for n-d and complex arrays.",
         ["check_input_ndim", "check_complex_array", "array_ndim"]),
    ],
}


def _module_page(modname):
    """The page of a module exported as a name (e.g. ``skunfold.core.constraints``)."""
    title = f"``{modname}``"
    groups = API_MODULE_GROUPS.get(modname)
    if groups is None:
        return "\n".join([title, "=" * len(title), "", f".. automodule:: {modname}",
                          "   :members:", ""])
    lines = [title, "=" * len(title), "", f".. automodule:: {modname}", "   :no-members:",
             "", f".. currentmodule:: {modname}", ""]
    for heading, intro, names in groups:
        lines += [heading, "-" * len(heading), "", intro, "", ".. autosummary::",
                  "   :nosignatures:", ""] + [f"   {name}" for name in names] + [""]
        lines += [f".. autofunction:: {name}\n" for name in names]
    return "\n".join(lines)


def _table(names):
    """A link table (no stub pages) of ``names``: classes, functions, objects, modules."""
    return [".. autosummary::", "   :nosignatures:", ""] + [f"   {name}" for name in names] + [""]


def _ordered(module, names):
    """``names`` with the classes first, then functions, objects and modules."""
    classes, functions, data = _members(module, names)
    modules = [n for n in names if inspect.ismodule(getattr(module, n))]
    return classes + functions + data + modules


def _landing_tables(documented):
    """The tables of the API landing page (``docs/api.rst`` includes them).

    One table per sub-package (name, one-line summary); a sub-package that declares
    its names in groups gets one table per group. The names are short (the
    ``currentmodule`` is the sub-package); each links to its page.
    """
    lines = []
    for name, module in documented:
        doc = (inspect.getdoc(module) or "").strip().splitlines()
        summary = doc[0] if doc else ""
        title = f"``skunfold.{name}``"
        link = f":ref:`skunfold.{name} <api-{name}>`"
        lines += [title, "-" * len(title), "", f"{summary} Full page: {link}.", "",
                  f".. currentmodule:: skunfold.{name}", ""]
        groups = [(heading, getattr(module, attr)) for attr, heading, _ in API_GROUPS
                  if hasattr(module, attr)]
        if groups:
            for heading, names in groups:
                lines += [f"**{heading}**", ""] + _table(_ordered(module, names))
        else:
            lines += _table(_ordered(module, _public_names(module)))
    return "\n".join(lines)


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
    written, documented = [], []
    for i, name in enumerate(_api_modules()):
        modname = f"skunfold.{name}"
        try:
            module = importlib.import_module(modname)
        except Exception as exc:  # a family under construction must not break the build
            print(f"[skunfold docs] not documenting {modname}: import failed ({exc!r})")
            continue
        title = f"``{modname}``"  # the module's docstring follows, its summary first
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
        documented.append((name, module))
    for stale in out.glob("*.rst"):
        if stale.name not in written:
            stale.unlink()
    # a ``.inc`` file is not a page of its own: ``api.rst`` includes it
    tables = HERE / "generated" / "api_tables.inc"
    text = _landing_tables(documented)
    if not tables.exists() or tables.read_text() != text:
        tables.write_text(text)


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


def _constant_docstring(app, what, name, obj, options, lines):
    """A module constant's ``#:`` comment, not its type's docstring.

    A constant re-exported by a sub-package (``skunfold.core.PARADIGMS``) would
    otherwise be summarised by the docstring of ``tuple`` ("Built-in immutable
    sequence."); its comment is in the module that defines it.
    """
    if what != "data" or not name.startswith("skunfold."):
        return
    from sphinx.pycode import ModuleAnalyzer

    short = name.rsplit(".", 1)[1]
    for modname, module in sorted(sys.modules.items()):
        if not modname.startswith("skunfold") or vars(module).get(short, None) is not obj:
            continue
        try:
            doc = ModuleAnalyzer.for_module(modname).find_attr_docs().get(("", short))
        except Exception:  # a module without source (compiled)
            continue
        if doc:
            lines[:] = list(doc)
            return


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
    app.connect("autodoc-process-docstring", _constant_docstring, priority=50)
    app.connect("autodoc-skip-member", _skip_foreign_members)
    if check_example_outputs is not None:  # docs/gallery_checks.py
        app.connect("build-finished", check_example_outputs)
