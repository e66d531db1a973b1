"""Checks of the gallery's output, run during the documentation build.

* :class:`EmptyAxesCheckingScraper`, a sphinx-gallery image scraper: an
  example that leaves an axes with nothing drawn in it (a panel shown as an
  empty 0-1 frame) fails, naming the example, the figure and the axes.
* :func:`check_example_outputs`, a Sphinx ``build-finished`` handler: an
  example whose captured output shows an object repr such as
  ``<matplotlib.legend.Legend object at 0x7f...>`` (the value of a stray
  expression statement) or an absolute path of the build machine (the
  repository, the home directory, the Python installation: a warning
  printed with its file name, a path printed by the example) fails the
  build, naming the pages.
* :class:`WarningsWithoutPaths`, a sphinx-gallery ``reset_modules`` entry:
  before each example, warnings are formatted as ``Category: message``,
  without the file name and source line that Python prints by default (an
  absolute path of the build machine, and a line of the example's code that
  the page shows anyway).

Wired in from ``docs/conf.py``::

    from gallery_checks import (EmptyAxesCheckingScraper, WarningsWithoutPaths,
                                check_example_outputs)

    sphinx_gallery_conf["image_scrapers"] = (EmptyAxesCheckingScraper(),)
    sphinx_gallery_conf["reset_modules"] = ("matplotlib", WarningsWithoutPaths())

    def setup(app):
        app.connect("build-finished", check_example_outputs)
"""

import os
import re
import sys
import sysconfig
import warnings
from pathlib import Path

__all__ = ["EmptyAxesCheckingScraper", "empty_axes", "check_example_outputs", "find_reprs",
           "find_paths", "machine_paths", "WarningsWithoutPaths", "format_warning"]

#: What counts as drawn in an axes (the background ``ax.patch`` is not in ``ax.patches``).
_ARTIST_LISTS = ("lines", "collections", "images", "patches", "texts", "tables", "artists")


def _has_content(ax):
    if any(len(getattr(ax, name, ())) for name in _ARTIST_LISTS):
        return True
    return bool(getattr(ax, "containers", ()))


def empty_axes(figures=None):
    """The ``(figure_index, axes_index)`` of every visible axes with nothing drawn.

    Parameters
    ----------
    figures : list of matplotlib.figure.Figure, optional
        Default: the open pyplot figures, in the order of their numbers.
        Indices are 0-based positions in this list and in ``figure.axes``.
    """
    if figures is None:
        import matplotlib.pyplot as plt

        figures = [plt.figure(num) for num in plt.get_fignums()]
    return [(i, j) for i, fig in enumerate(figures) for j, ax in enumerate(fig.axes)
            if ax.get_visible() and not _has_content(ax)]


class EmptyAxesCheckingScraper:
    """sphinx-gallery's matplotlib scraper, refusing figures with an empty axes.

    Called after every code block of an example, like any image scraper, with
    ``(block, block_vars, gallery_conf)``. When an open figure has a visible
    axes with no lines, collections, images, patches, texts, tables or
    containers, it closes the open figures and raises :class:`ValueError`
    naming the example file and the figure and axes (sphinx-gallery then
    reports the example as failed and the build fails). Otherwise it returns
    what :func:`sphinx_gallery.scrapers.matplotlib_scraper` returns.

    A figure split over several code blocks (created in one, completed in the
    next) is scraped at the end of the first one, so it is refused too: it
    would be shown with the later panels empty.
    """

    def __call__(self, block, block_vars, gallery_conf):
        from sphinx_gallery.scrapers import matplotlib_scraper

        empty = empty_axes()
        if empty:
            import matplotlib.pyplot as plt

            plt.close("all")
            where = ", ".join(f"figure {i + 1} axes {j}" for i, j in empty)
            src = block_vars.get("src_file", "<unknown example>")
            raise ValueError(
                f"{src}: empty axes (nothing drawn) in {where} (figures numbered from 1 in "
                "the order the example opened them, axes from 0 in figure.axes); draw into "
                "every axes before the end of the code block, or remove it")
        return matplotlib_scraper(block, block_vars, gallery_conf)

    def __repr__(self):
        # a stable repr: sphinx-gallery compares the configuration between builds
        return f"{type(self).__name__}()"


#: An object repr, e.g. ``<matplotlib.legend.Legend object at 0x7f3a2c1d9e50>``.
_REPR = re.compile(r"<[\w.]+(?: [\w.]+)* object at 0x[0-9a-fA-F]+>")


def find_reprs(gallery_dir):
    """``{page: [reprs]}`` of the generated example pages under ``gallery_dir`` showing reprs.

    Pages in the topic folders of the gallery are named by their path relative
    to ``gallery_dir`` (``communications/plot_x.rst``).
    """
    root = Path(gallery_dir)
    found = {}
    for path in sorted(root.rglob("*.rst")):
        hits = _REPR.findall(path.read_text(encoding="utf-8", errors="replace"))
        if hits:
            found[path.relative_to(root).as_posix()] = hits
    return found


def format_warning(message, category, filename, lineno, line=None):
    """A :func:`warnings.formatwarning` without the file and line: ``Category: message``."""
    return f"{category.__name__}: {message}\n"


class WarningsWithoutPaths:
    """A sphinx-gallery ``reset_modules`` entry: warnings shown without their file path.

    Called before each example with ``(gallery_conf, fname)``; sets
    :func:`warnings.formatwarning` to :func:`format_warning`, so that a warning
    an example emits reads ``ConvergenceWarning: ...`` on its page instead of
    ``/path/of/the/build/examples/plot_x.py:49: ConvergenceWarning: ...``
    followed by the line of code. The examples' code shows no filter or
    formatting of warnings.
    """

    def __call__(self, gallery_conf, fname):
        warnings.formatwarning = format_warning

    def __repr__(self):
        # a stable repr: sphinx-gallery compares the configuration between builds
        return f"{type(self).__name__}()"


#: Parts of a path that only a path of some machine contains.
_PATH_MARKERS = ("/home/", "/Users/", "/work/", "/root/", "site-packages", "dist-packages",
                 "C:\\Users\\")


def machine_paths(root=None):
    """The absolute paths of this machine that must not appear on a page, longest first.

    ``root`` (the repository; default: none), the home directory, the Python
    installation (``sys.prefix``, ``sys.base_prefix``) and its library
    folders, plus the markers ``/home/``, ``/Users/``, ``/work/``, ``/root/``,
    ``site-packages`` and ``dist-packages``.
    """
    paths = {str(root)} if root else set()
    paths.add(os.path.expanduser("~"))
    paths.update({sys.prefix, sys.base_prefix})
    paths.update(v for k, v in sysconfig.get_paths().items() if k in ("purelib", "platlib"))
    paths = {p.rstrip("/\\") for p in paths if p and len(p.rstrip("/\\")) > 1}
    return sorted(paths | set(_PATH_MARKERS), key=len, reverse=True)


def _outputs(text):
    """The lines of the captured-output blocks (``sphx-glr-script-out``) of a generated page."""
    lines, inside = [], False
    for line in text.splitlines():
        if line.startswith(".. rst-class:: sphx-glr-script-out"):
            inside = True
        elif inside and line and not line[0].isspace():
            inside = False
        elif inside:
            lines.append(line)
    return lines


def find_paths(gallery_dir, paths):
    """``{page: [lines]}`` of the example pages whose captured output shows one of ``paths``.

    Only the output blocks are read (the example's code and text may name a
    path on purpose). Pages are named as in :func:`find_reprs`.
    """
    root = Path(gallery_dir)
    # a path, not a longer name that starts with it ("/root" is not "/rooted")
    pattern = re.compile("|".join(
        re.escape(p) + ("" if p.endswith(("/", "\\")) else r"(?![\w.-])") for p in paths))
    found = {}
    for page in sorted(root.rglob("*.rst")):
        text = page.read_text(encoding="utf-8", errors="replace")
        hits = [line.strip()[:120] for line in _outputs(text) if pattern.search(line)]
        if hits:
            found[page.relative_to(root).as_posix()] = hits
    return found


def check_example_outputs(app, exception):
    """Sphinx ``build-finished`` handler: fail on an object repr or a path in an example's output.

    Scans ``<srcdir>/auto_examples/**/*.rst`` (the generated pages, with the
    captured output of every code block) for ``<... object at 0x...>`` and,
    in the output blocks, for the paths of :func:`machine_paths` (with the
    repository, the parent of ``srcdir``), and raises :class:`RuntimeError`
    listing the files. Does nothing when the build already failed
    (``exception`` is not None).
    """
    if exception is not None:
        return
    gallery = Path(app.srcdir) / "auto_examples"
    problems = []
    found = find_reprs(gallery)
    if found:
        lines = [f"  {name}: {', '.join(sorted(set(hits)))}" for name, hits in found.items()]
        problems.append(
            "gallery examples printed object reprs (a stray expression statement at the end "
            "of a code block: assign it, e.g. `_ = ax.legend()`, or end the block with "
            "plt.show()):\n" + "\n".join(lines))
    found = find_paths(gallery, machine_paths(Path(app.srcdir).resolve().parent))
    if found:
        lines = [f"  {name}: {hits[0]}" + (f" (and {len(hits) - 1} more)" if len(hits) > 1
                                            else "") for name, hits in found.items()]
        problems.append(
            "gallery examples printed absolute paths of the build machine (a warning is "
            "formatted without its file by gallery_checks.WarningsWithoutPaths; print "
            "file names, not paths):\n" + "\n".join(lines))
    if problems:
        raise RuntimeError("\n".join(problems))
