"""Checks of the gallery's output, run during the documentation build.

* :class:`EmptyAxesCheckingScraper`, a sphinx-gallery image scraper: an
  example that leaves an axes with nothing drawn in it (a panel shown as an
  empty 0-1 frame) fails, naming the example, the figure and the axes.
* :func:`check_example_outputs`, a Sphinx ``build-finished`` handler: an
  example whose captured output shows an object repr such as
  ``<matplotlib.legend.Legend object at 0x7f...>`` (the value of a stray
  expression statement) fails the build, naming the pages.

Wired in from ``docs/conf.py``::

    from gallery_checks import EmptyAxesCheckingScraper, check_example_outputs

    sphinx_gallery_conf["image_scrapers"] = (EmptyAxesCheckingScraper(),)

    def setup(app):
        app.connect("build-finished", check_example_outputs)
"""

import re
from pathlib import Path

__all__ = ["EmptyAxesCheckingScraper", "empty_axes", "check_example_outputs", "find_reprs"]

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


def check_example_outputs(app, exception):
    """Sphinx ``build-finished`` handler: fail when an example printed an object repr.

    Scans ``<srcdir>/auto_examples/**/*.rst`` (the generated pages, with the
    captured output of every code block) for ``<... object at 0x...>`` and
    raises :class:`RuntimeError` listing the files. Does nothing when the
    build already failed (``exception`` is not None).
    """
    if exception is not None:
        return
    found = find_reprs(Path(app.srcdir) / "auto_examples")
    if found:
        lines = [f"  {name}: {', '.join(sorted(set(hits)))}" for name, hits in found.items()]
        raise RuntimeError(
            "gallery examples printed object reprs (a stray expression statement at the end "
            "of a code block: assign it, e.g. `_ = ax.legend()`, or end the block with "
            "plt.show()):\n" + "\n".join(lines))
