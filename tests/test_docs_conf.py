"""The header links of the documentation (docs/conf.py), from a fake pyproject.toml.

docs/conf.py writes the API pages when it is executed, so the test compiles
only the function and the table it needs, not the whole module.
"""

import ast
from pathlib import Path

import pytest

pytest.importorskip("tomllib")

CONF = Path(__file__).resolve().parents[1] / "docs" / "conf.py"


@pytest.fixture(scope="module")
def project_icon_links():
    tree = ast.parse(CONF.read_text(encoding="utf-8"))
    wanted = {"PROJECT_URL_ICONS", "project_icon_links"}
    body = [node for node in tree.body
            if (isinstance(node, ast.FunctionDef) and node.name in wanted)
            or (isinstance(node, (ast.Assign, ast.AnnAssign)) and any(
                getattr(t, "id", None) in wanted
                for t in (node.targets if isinstance(node, ast.Assign) else [node.target])))]
    assert len(body) == 2
    namespace = {}
    exec(compile(ast.Module(body=body, type_ignores=[]), str(CONF), "exec"), namespace)
    return namespace["project_icon_links"]


def _pyproject(tmp_path, text):
    path = tmp_path / "pyproject.toml"
    path.write_text('[project]\nname = "skunfold"\n' + text, encoding="utf-8")
    return path


def test_links_from_project_urls(project_icon_links, tmp_path):
    path = _pyproject(tmp_path, """
[project.urls]
Documentation = "https://example.org/docs"
package = "https://pypi.org/project/skunfold/"
Source = "https://github.com/example/skunfold"
Homepage = "https://example.org"
""")
    links = project_icon_links(path)
    assert [(link["name"], link["url"]) for link in links] == [
        ("Source", "https://github.com/example/skunfold"),
        ("Homepage", "https://example.org"),
        ("package", "https://pypi.org/project/skunfold/"),
    ]
    assert links[0]["icon"] == "fa-brands fa-github"
    assert {link["type"] for link in links} == {"fontawesome"}


def test_repository_off_github_gets_a_code_icon(project_icon_links, tmp_path):
    path = _pyproject(tmp_path, '[project.urls]\nRepository = "https://gitlab.com/x/skunfold"\n')
    (link,) = project_icon_links(path)
    assert link["name"] == "Repository" and link["icon"] == "fa-solid fa-code"


@pytest.mark.parametrize("text", ["", '[project.urls]\nDocumentation = "https://example.org"\n'])
def test_no_links_without_named_urls(project_icon_links, tmp_path, text):
    assert project_icon_links(_pyproject(tmp_path, text)) == []


def test_no_links_without_a_readable_pyproject(project_icon_links, tmp_path):
    assert project_icon_links(tmp_path / "missing.toml") == []
    bad = tmp_path / "bad.toml"
    bad.write_text("[project\n", encoding="utf-8")
    assert project_icon_links(bad) == []


def test_the_repository_pyproject(project_icon_links):
    """skunfold's own pyproject.toml names no URLs yet: no icon links, and no error."""
    links = project_icon_links(CONF.parents[1] / "pyproject.toml")
    assert all(link["url"].startswith("https://") for link in links)
