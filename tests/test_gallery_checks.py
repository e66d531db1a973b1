"""The gallery checks of the documentation build (docs/gallery_checks.py), on synthetic input."""

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "docs"))
import gallery_checks  # noqa: E402
from gallery_checks import (  # noqa: E402
    EmptyAxesCheckingScraper,
    check_example_outputs,
    empty_axes,
    find_reprs,
)


@pytest.fixture(autouse=True)
def _close_figures():
    plt.close("all")
    yield
    plt.close("all")


def _delegate(monkeypatch):
    """Replace sphinx-gallery's scraper by a recorder (no image files written)."""
    calls = []
    scrapers = pytest.importorskip("sphinx_gallery.scrapers")

    def fake(block, block_vars, gallery_conf):
        calls.append(block_vars["src_file"])
        plt.close("all")
        return "rst"

    monkeypatch.setattr(scrapers, "matplotlib_scraper", fake)
    return calls


def test_empty_axes_found():
    fig, (ax1, ax2) = plt.subplots(1, 2)
    ax1.plot([0, 1], [1, 0])
    assert empty_axes() == [(0, 1)]
    ax2.scatter([0], [1])
    assert empty_axes() == []
    ax2.set_visible(False)
    assert empty_axes([fig]) == []


@pytest.mark.parametrize("draw", [
    lambda ax: ax.plot([0, 1]),
    lambda ax: ax.imshow([[0, 1], [1, 0]]),
    lambda ax: ax.bar([0, 1], [1, 2]),
    lambda ax: ax.text(0.5, 0.5, "note"),
    lambda ax: ax.axhline(0.5),
    lambda ax: ax.fill_between([0, 1], [0, 1]),
])
def test_drawn_axes_not_empty(draw):
    _, ax = plt.subplots()
    draw(ax)
    assert empty_axes() == []


def test_title_and_labels_alone_are_empty():
    _, ax = plt.subplots()
    ax.set_title("rate")
    ax.set_xlabel("k")
    assert empty_axes() == [(0, 0)]


def test_scraper_refuses_an_empty_axes(monkeypatch):
    calls = _delegate(monkeypatch)
    plt.subplots()[1].plot([0, 1])
    _, (ax1, ax2) = plt.subplots(1, 2)
    ax1.plot([0, 1])
    with pytest.raises(ValueError, match=r"plot_broken\.py.*figure 2 axes 1"):
        EmptyAxesCheckingScraper()(None, {"src_file": "/x/plot_broken.py"}, {})
    assert calls == []
    assert plt.get_fignums() == []  # closed, so the next example starts clean


def test_scraper_delegates_when_every_axes_is_drawn(monkeypatch):
    calls = _delegate(monkeypatch)
    plt.subplots()[1].plot([0, 1])
    assert EmptyAxesCheckingScraper()(None, {"src_file": "plot_ok.py"}, {}) == "rst"
    assert calls == ["plot_ok.py"]


def test_scraper_repr_is_stable():
    assert repr(EmptyAxesCheckingScraper()) == "EmptyAxesCheckingScraper()"


def _gallery(tmp_path, pages):
    gallery = tmp_path / "auto_examples"
    gallery.mkdir()
    for name, text in pages.items():
        (gallery / name).parent.mkdir(parents=True, exist_ok=True)
        (gallery / name).write_text(text)
    return SimpleNamespace(srcdir=str(tmp_path))


OUTPUT = """
.. rst-class:: sphx-glr-script-out

 .. code-block:: none

    {}
"""


def test_check_example_outputs_finds_reprs(tmp_path):
    app = _gallery(tmp_path, {
        "plot_bad.rst": OUTPUT.format("<matplotlib.legend.Legend object at 0x7f3a2c1d9e50>"),
        "plot_good.rst": OUTPUT.format("rate 5.01 nats <= 5.03 (see <https://example>)"),
        "index.rst": "Gallery\n=======\n",
    })
    assert list(find_reprs(Path(app.srcdir) / "auto_examples")) == ["plot_bad.rst"]
    with pytest.raises(RuntimeError, match=r"plot_bad\.rst.*Legend object at 0x") as err:
        check_example_outputs(app, None)
    assert "plot_good.rst" not in str(err.value)


def test_check_example_outputs_passes_clean_gallery(tmp_path):
    app = _gallery(tmp_path, {"plot_good.rst": OUTPUT.format("(200, 4, 8, 3)")})
    assert check_example_outputs(app, None) is None


def test_check_example_outputs_silent_after_a_failed_build(tmp_path):
    app = _gallery(tmp_path, {"plot_bad.rst": OUTPUT.format("<Foo object at 0xdeadbeef>")})
    assert check_example_outputs(app, RuntimeError("build failed")) is None


def test_module_names():
    assert {"EmptyAxesCheckingScraper", "check_example_outputs"} <= set(gallery_checks.__all__)


def test_check_example_outputs_looks_into_the_topic_folders(tmp_path):
    app = _gallery(tmp_path, {
        "communications/plot_bad.rst": OUTPUT.format("<Figure object at 0x7f00>"),
        "sparse_recovery/plot_good.rst": OUTPUT.format("NMSE -27.5 dB"),
    })
    assert list(find_reprs(Path(app.srcdir) / "auto_examples")) == ["communications/plot_bad.rst"]
    with pytest.raises(RuntimeError, match=r"communications/plot_bad\.rst"):
        check_example_outputs(app, None)
