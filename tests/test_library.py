"""newsbeam as a library: one namespace, the public API, and the README's own-pipeline example, run as written."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import apache_beam as beam

import newsbeam

ROOT = Path(__file__).resolve().parents[1]
OLD_TOP_LEVEL = {"pipeline", "transforms", "schemas"}


def readme_example() -> str:
    """The code block between the README's ``example: own-pipeline`` markers."""
    text = (ROOT / "README.md").read_text()
    match = re.search(r"<!-- example: own-pipeline -->\n```python\n(.*?)```\n<!-- end example -->", text, re.S)
    assert match, "README lost its own-pipeline example"
    return match.group(1)


def run_readme_example(python: str, folder: Path) -> subprocess.CompletedProcess[str]:
    """Run the example as a script in ``folder`` (outside the repository) with ``python``."""
    script = folder / "own_pipeline.py"
    script.write_text(readme_example())
    return subprocess.run([python, str(script)], cwd=folder, capture_output=True, text=True, timeout=300)


def check_example_output(folder: Path) -> None:
    articles = [line for path in sorted(folder.glob("out/articles*")) for line in path.read_text().splitlines()]
    letters = [line for path in sorted(folder.glob("out/dead_letters*")) for line in path.read_text().splitlines()]
    assert len(articles) == 1, "the ?utm_source copy collapses into the article"
    assert '"url": "https://example.org/port-strike"' in articles[0]
    assert "Hamburg" in articles[0] and "Rotterdam" in articles[0]
    assert len(letters) == 1 and letters[0].startswith("clean\thttps://example.org/empty\tno article text")


def test_readme_example_runs_as_written(tmp_path: Path) -> None:
    done = run_readme_example(sys.executable, tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    check_example_output(tmp_path)


def test_public_api_is_all_and_only_all() -> None:
    for name in newsbeam.__all__:
        assert hasattr(newsbeam, name), name
    stages = ["ReadFeeds", "ReadInputPages", "FetchPages", "CleanPages", "Deduplicate", "TagEntities"]
    stages += ["AssignStories", "WriteLake"]
    assert all(issubclass(getattr(newsbeam, name), beam.PTransform) for name in stages)
    assert {"run", "connect", "Article", "Page", "DeadLetter", "MAIN", "DEAD_LETTER"} <= set(newsbeam.__all__)
    assert newsbeam.__version__ == version("newsbeam")


def test_version_flag_prints_the_installed_version() -> None:
    done = subprocess.run([sys.executable, "-m", "newsbeam", "--version"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0
    assert done.stdout.strip() == f"newsbeam {version('newsbeam')}"


def test_nothing_imports_the_old_top_level_packages() -> None:
    """Every module of the repository imports ``newsbeam.…``, never ``pipeline``/``transforms``/``schemas``."""
    tracked = subprocess.run(["git", "ls-files", "*.py"], cwd=ROOT, capture_output=True, text=True, check=True)
    offenders = []
    for relative in tracked.stdout.split():
        tree = ast.parse((ROOT / relative).read_text(), relative)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            offenders += [f"{relative}:{node.lineno} {name}" for name in names if name.split(".")[0] in OLD_TOP_LEVEL]
    assert offenders == []
    assert len(tracked.stdout.split()) > 80


def test_every_package_folder_is_listed_for_the_wheel() -> None:
    """A package missing from pyproject's list imports in the editable install but not from the wheel."""
    import tomllib

    root = Path(__file__).resolve().parents[1]
    listed = set(tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {
        "newsbeam." + ".".join(init.parent.relative_to(root).parts)
        for top in ("pipeline", "transforms", "schemas")
        for init in (root / top).rglob("__init__.py")
    }
    assert found - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"
