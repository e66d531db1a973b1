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
    find_paths,
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
    gallery.mkdir(parents=True)
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


def test_find_paths_in_outputs_only(tmp_path):
    warning = ("/build/repo/examples/plot_deq.py:49: ConvergenceWarning: not converged\n"
               "      deq.fit(X, S)")
    app = _gallery(tmp_path, {
        "beyond/plot_deq.rst": OUTPUT.format(warning),
        "beyond/plot_clean.rst": OUTPUT.format("ConvergenceWarning: not converged"),
        # the example's own text and code may name a path
        "plot_text.rst": "Reads ``/build/repo/data.npz``.\n" + OUTPUT.format("ok"),
    })
    found = find_paths(Path(app.srcdir) / "auto_examples", ["/build/repo"])
    assert list(found) == ["beyond/plot_deq.rst"]
    assert found["beyond/plot_deq.rst"][0].startswith("/build/repo/examples/plot_deq.py:49")


def test_find_paths_matches_whole_names(tmp_path):
    app = _gallery(tmp_path, {"plot_a.rst": OUTPUT.format("saved to /rooted/x; sqrt/rootx"),
                              "plot_b.rst": OUTPUT.format("cache in /root/.cache")})
    assert list(find_paths(Path(app.srcdir) / "auto_examples", ["/root"])) == ["plot_b.rst"]


def test_machine_paths():
    paths = gallery_checks.machine_paths("/some/repo")
    assert "/some/repo" in paths and sys.prefix.rstrip("/") in paths
    assert "site-packages" in paths and "/home/" in paths
    assert paths == sorted(paths, key=len, reverse=True)


def test_check_example_outputs_finds_paths(tmp_path):
    root = tmp_path.resolve()  # srcdir is <root>/docs: the repository is its parent
    docs = root / "docs"
    app = _gallery(docs, {
        "plot_deq.rst": OUTPUT.format(f"{root}/examples/plot_deq.py:49: UserWarning: x"),
        "plot_pkg.rst": OUTPUT.format(f"{sys.prefix}/lib/python3/x.py:1: UserWarning: y"),
        "plot_good.rst": OUTPUT.format("UserWarning: x"),
    })
    with pytest.raises(RuntimeError, match=r"absolute paths") as err:
        check_example_outputs(app, None)
    assert "plot_deq.rst" in str(err.value) and "plot_pkg.rst" in str(err.value)
    assert "plot_good.rst" not in str(err.value)


def test_check_example_outputs_reports_reprs_and_paths(tmp_path):
    app = _gallery(tmp_path.resolve() / "docs", {
        "plot_a.rst": OUTPUT.format("<Foo object at 0xdeadbeef>"),
        "plot_b.rst": OUTPUT.format("/home/someone/x.py:3: UserWarning: z"),
    })
    with pytest.raises(RuntimeError, match=r"(?s)object reprs.*plot_a\.rst.*paths.*plot_b\.rst"):
        check_example_outputs(app, None)


def test_warnings_without_paths():
    import warnings

    reset = gallery_checks.WarningsWithoutPaths()
    assert repr(reset) == "WarningsWithoutPaths()"
    saved = warnings.formatwarning
    try:
        reset({}, "plot_x.py")
        text = warnings.formatwarning("not converged", UserWarning, "/abs/plot_x.py", 49,
                                      "deq.fit(X)")
    finally:
        warnings.formatwarning = saved
    assert text == "UserWarning: not converged\n"


def test_warnings_without_paths_in_the_output():
    """As an example's output shows it: Python's own display of a warning, in a fresh process."""
    import subprocess

    code = ("import warnings, gallery_checks\n"
            "gallery_checks.WarningsWithoutPaths()({}, None)\n"
            "warnings.warn('tol not reached', RuntimeWarning)\n")
    docs = Path(__file__).resolve().parents[1] / "docs"
    run = subprocess.run([sys.executable, "-c", code], cwd=docs, capture_output=True, text=True,
                         check=True)
    assert run.stderr == "RuntimeWarning: tol not reached\n"
