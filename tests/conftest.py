"""Shared fixtures: the real SmolLM2 loaded once per session, and scripted fakes at the model boundary."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing downloads from a hub in tests
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

import llms  # noqa: E402
from tests.fakes import ScriptedLLM  # noqa: E402

_FAKES: dict[str, ScriptedLLM] = {}


def _load_fake(ms, **opts):
    return _FAKES.setdefault(ms.name, ScriptedLLM(spec=str(ms)))


llms.register_backend("fake", _load_fake)


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
def shared_data() -> Path:
    if not SHARED_DATA.exists():
        pytest.skip(f"{SHARED_DATA} not present (it sits beside the repo in CI)")
    return SHARED_DATA
