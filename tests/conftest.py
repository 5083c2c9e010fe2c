"""Shared fixtures: a temporary ADS home for the whole session, the real SmolLM2 loaded once, and
scripted fakes at the model boundary.

Test tiers are chosen by the fixtures a test uses (``pytest -m fast`` runs the fast tier):
``real`` - it loads a real model or the real corpus (``smollm``, ``corpus``);
``slow`` - it trains (``train_dir``, ``trains``) or starts another process (``spawn``, ``processes``,
a real Postgres server ``postgres``, a Ray cluster ``ray_cluster``);
``fast`` - neither. ``pytest -q`` runs every tier.

Tests never write into the user's ``$ADS_HOME``: the session gets its own home in a temporary
folder. The converted policy and the default corpus index are read-only inputs there, linked
from the real home when it has them (``bash scripts/setup.sh`` builds both); otherwise they are
built once per session inside the temporary home.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing downloads from a hub in tests
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")


def _session_home() -> Path:
    """A fresh ADS home for this test session, before any module reads ``ads_home()``."""
    real = Path(os.environ.get("ADS_HOME") or Path.home() / ".cache" / "ads").expanduser()
    home = Path(tempfile.mkdtemp(prefix="ads-test-home-"))
    for part in ("models/smollm2-135m-instruct", "corpora/wiki-offline"):
        source = real / part
        marker = source / ("ads_model.json" if part.startswith("models") else "meta.json")
        if marker.exists():  # read-only inputs: link, never copy or rebuild
            (home / part).parent.mkdir(parents=True, exist_ok=True)
            (home / part).symlink_to(source, target_is_directory=True)
    os.environ["ADS_HOME"] = str(home)
    os.environ["ADS_CHECKPOINTS"] = str(home / "checkpoints.sqlite")
    return home


HOME = _session_home()

import llms  # noqa: E402
from tests.fakes import ScriptedLLM  # noqa: E402

_FAKES: dict[str, ScriptedLLM] = {}


def _load_fake(ms, **opts):
    return _FAKES.setdefault(ms.name, ScriptedLLM(spec=str(ms)))


llms.register_backend("fake", _load_fake)


REAL_FIXTURES = {"smollm", "corpus"}
SLOW_FIXTURES = {"trains", "train_dir", "spawn", "processes", "postgres", "ray_cluster"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        real = bool(names & REAL_FIXTURES) or item.get_closest_marker("real") is not None
        slow = bool(names & SLOW_FIXTURES) or item.get_closest_marker("slow") is not None
        if real and not item.get_closest_marker("real"):
            item.add_marker(pytest.mark.real)
        if slow and not item.get_closest_marker("slow"):
            item.add_marker(pytest.mark.slow)
        if not real and not slow:
            item.add_marker(pytest.mark.fast)


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def ads_home() -> Path:
    """The session's temporary ADS home (``$ADS_HOME`` during the tests)."""
    return HOME


@pytest.fixture(autouse=True)
def own_home(tmp_path_factory, monkeypatch):
    """Each test its own ADS home (caches, memory bank, checkpoints), with the session's converted
    models and corpora linked in: a scripted model's replies cached by one test never answer another."""
    home = tmp_path_factory.mktemp("home")
    for part in ("models", "corpora"):
        if (HOME / part).exists():
            (home / part).symlink_to(HOME / part, target_is_directory=True)
        else:
            (HOME / part).mkdir(parents=True, exist_ok=True)
            (home / part).symlink_to(HOME / part, target_is_directory=True)
    monkeypatch.setenv("ADS_HOME", str(home))
    monkeypatch.setenv("ADS_CHECKPOINTS", str(home / "checkpoints.sqlite"))
    return home


@pytest.fixture
def fake_llm():
    """``fake_llm("name")`` -> the ScriptedLLM that ``llms.load("fake:name")`` returns (fresh per test)."""
    _FAKES.clear()
    llms.unload(backend="fake")  # never the real model: it is shared by the whole session

    def get(name: str = "model") -> ScriptedLLM:
        return llms.load(f"fake:{name}")

    yield get
    _FAKES.clear()


@pytest.fixture(scope="session")
def smollm():
    """The real SmolLM2-135M-Instruct (converted once from the packaged GGUF), shared by all tests."""
    return llms.load(llms.DEFAULT_POLICY)


@pytest.fixture(scope="session")
def corpus():
    """The default corpus index (linked read-only from the real home, or built once this session)."""
    from tools.corpus import ensure_corpus

    return ensure_corpus("wiki-offline")


@pytest.fixture(scope="module")
def trains(tmp_path_factory):
    """``trains("name")`` -> a fresh folder for an adapter a module-scoped fixture trains (slow tier)."""
    return lambda name: tmp_path_factory.mktemp(name)


@pytest.fixture
def train_dir(tmp_path, trains) -> Path:
    """A folder for adapters a test trains (the test is in the slow tier)."""
    out = tmp_path / "train"
    out.mkdir()
    return out


def _starter():
    import subprocess

    started: list[subprocess.Popen] = []

    def start(*args, **kwargs) -> subprocess.Popen:
        proc = subprocess.Popen(*args, **kwargs)
        started.append(proc)
        return proc

    def stop():
        for proc in started:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)

    start.run = subprocess.run
    return start, stop


@pytest.fixture
def spawn():
    """``spawn(args, **popen_kwargs)`` starts a process (the test is in the slow tier); any still
    running at the end of the test is killed. ``spawn.run(args, **kwargs)`` is ``subprocess.run``."""
    start, stop = _starter()
    yield start
    stop()


@pytest.fixture(scope="module")
def processes():
    """``spawn`` for module-scoped fixtures (a server shared by a module's tests): slow tier too."""
    start, stop = _starter()
    yield start
    stop()


@pytest.fixture(scope="session")
def postgres(tmp_path_factory) -> str:
    """A real PostgreSQL server (the one the pgserver wheel ships), started once for the session:
    its URI (slow tier)."""
    import pgserver

    server = pgserver.get_server(tmp_path_factory.mktemp("pg"), cleanup_mode="stop")
    yield server.get_uri()
    server.cleanup()


@pytest.fixture(scope="session")
def ray_cluster():
    """For tests that run units on Ray: the local cluster the executor starts (executor=ray) is shut
    down at the end of the session (slow tier)."""
    yield
    import ray

    import graph.executor

    ray.shutdown()
    graph.executor._started.clear()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.exists():
        pytest.skip(f"{SHARED_DATA} not present (it sits beside the repo in CI)")
    return SHARED_DATA
