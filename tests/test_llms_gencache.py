"""The generation cache (llms/gencache.py): a repeated call never reaches the model, misses go out
as one batch, and anything that can change an output (params, seed, prompt, dtype, adapter
content) is another entry. Scripted models at the model boundary; real SQLite."""

from __future__ import annotations

import os
import sys
import textwrap

import pytest

from graph.context import Context
from graph.nodes import load_model
from llms import SamplingParams
from llms.gencache import GenerationCache, cached
from tests.fakes import PLAN, SCRIPTED_PLAN, TASK, FakeTools, answer


def ctx_for(tmp_path, **kw) -> Context:
    return Context(cache_path=str(tmp_path / "tool_cache.sqlite"), run_dir=str(tmp_path / "run"),
                   memory_path=str(tmp_path / "memory"), **kw)


@pytest.fixture
def model(fake_llm):
    """A scripted model that echoes its prompt, with every batch it is sent recorded."""
    fake = fake_llm("m")
    fake.respond = lambda msgs: "reply to " + msgs[-1]["content"]
    fake.batches = []
    generate = fake.generate

    def recording(prompts, params=None, *, batch_size=8):
        fake.batches.append(list(prompts))
        return generate(prompts, params, batch_size=batch_size)

    fake.generate = recording
    return fake


def test_a_hit_makes_no_model_call_and_returns_the_same_generations(tmp_path, model):
    ctx = ctx_for(tmp_path)
    first = load_model(ctx, "fake:m").generate(["a", "b", [{"role": "user", "content": "c"}]])
    assert model.calls == 3
    again = load_model(ctx, "fake:m").generate(["a", "b", [{"role": "user", "content": "c"}]])
    assert model.calls == 3 and model.batches == [["a", "b", [{"role": "user", "content": "c"}]]]
    assert again == first and [g[0].text for g in again] == ["reply to a", "reply to b", "reply to c"]
    assert (tmp_path / "generation_cache.sqlite").exists()  # beside the tool cache


def test_misses_go_to_the_model_as_one_batch_in_order(tmp_path, model):
    llm = load_model(ctx_for(tmp_path), "fake:m")
    llm.complete(["b", "d"])
    out = llm.complete(["a", "b", "c", "d", "e"], batch_size=3)
    assert model.batches == [["b", "d"], ["a", "c", "e"]]
    assert out == ["reply to a", "reply to b", "reply to c", "reply to d", "reply to e"]
    assert (llm.hits, llm.misses) == (2, 5)


def test_a_cold_call_asks_the_model_exactly_what_it_was_asked(tmp_path, model):
    llm = load_model(ctx_for(tmp_path), "fake:m")
    out = llm.complete(["x", "x", "y", "x"])
    assert model.batches == [["x", "x", "y", "x"]] and out == ["reply to x", "reply to x", "reply to y", "reply to x"]
    assert llm.complete(["x", "y", "x"]) == ["reply to x", "reply to y", "reply to x"] and model.calls == 4


@pytest.mark.parametrize("change", [
    {"max_new_tokens": 17}, {"temperature": 0.7}, {"top_p": 0.5}, {"n": 2}, {"seed": 1}, {"stop": ("\n",)},
])
def test_every_sampling_field_is_part_of_the_key(tmp_path, model, change):
    llm = load_model(ctx_for(tmp_path), "fake:m")
    base = SamplingParams(seed=0)
    llm.generate(["q"], base)
    llm.generate(["q"], base)
    assert model.calls == 1
    llm.generate(["q"], SamplingParams(**{**base.__dict__, **change}))
    assert model.calls == 2


def test_another_prompt_or_dtype_is_a_miss(tmp_path, model):
    ctx = ctx_for(tmp_path)
    load_model(ctx, "fake:m").complete(["q"])
    load_model(ctx, "fake:m").complete(["q "])  # exact text: one space is another prompt
    load_model(ctx, "fake:m").generate([[{"role": "system", "content": "s"}, {"role": "user", "content": "q"}]])
    assert model.calls == 3
    load_model(ctx.replace(dtype="bfloat16"), "fake:m").complete(["q"])
    assert model.calls == 4


def test_sampling_without_a_seed_is_never_cached_and_repeats_are_separate_samples(tmp_path, model):
    llm = load_model(ctx_for(tmp_path), "fake:m")
    llm.generate(["q"], SamplingParams(temperature=0.8))
    llm.generate(["q"], SamplingParams(temperature=0.8))
    assert model.calls == 2
    llm.generate(["q", "q"], SamplingParams(temperature=0.8, seed=3))  # two samples asked: two sent
    assert model.batches[-1] == ["q", "q"]
    llm.generate(["q", "q"], SamplingParams(temperature=0.8, seed=3))
    assert model.calls == 4


def test_a_retrained_adapter_at_the_same_path_is_another_model(tmp_path, model):
    adapter = tmp_path / "sft" / "adapter"
    adapter.mkdir(parents=True)
    weights = adapter / "adapter_model.safetensors"
    weights.write_bytes(b"trained once")
    ctx, spec = ctx_for(tmp_path), f"fake:m+{adapter}"
    load_model(ctx, spec).complete(["q"])
    load_model(ctx, spec).complete(["q"])
    assert model.calls == 1
    stat = weights.stat()
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # touched, same bytes: same model
    load_model(ctx, spec).complete(["q"])
    assert model.calls == 1
    weights.write_bytes(b"trained again")  # retrained in place
    load_model(ctx, spec).complete(["q"])
    assert model.calls == 2
    load_model(ctx, "fake:m").complete(["q"])  # the base without the adapter is another model too
    assert model.calls == 3


def test_logprobs_are_cached_and_batched(tmp_path, model):
    seen = []
    model.logprob_fn = lambda c, r: seen.append((c, r)) or [-1.0] * len(r)
    llm = load_model(ctx_for(tmp_path), "fake:m")
    assert llm.logprobs(["c1", ""], ["ab", "abc"]) == [[-1.0, -1.0], [-1.0, -1.0, -1.0]]
    assert llm.logprobs(["c1", "c2", ""], ["ab", "x", "abc"]) == [[-1.0, -1.0], [-1.0], [-1.0, -1.0, -1.0]]
    assert seen == [("c1", "ab"), ("", "abc"), ("c2", "x")]


def test_a_failing_call_stores_nothing(tmp_path, model):
    llm = load_model(ctx_for(tmp_path), "fake:m")
    model.respond = lambda msgs: (_ for _ in ()).throw(RuntimeError("backend down"))
    with pytest.raises(RuntimeError, match="backend down"):
        llm.complete(["q"])
    model.respond = lambda msgs: "fine"
    assert llm.complete(["q"]) == ["fine"]


def test_generation_cache_off_reaches_the_model_every_time(tmp_path, model):
    ctx = ctx_for(tmp_path, generation_cache=False)
    for _ in range(2):
        load_model(ctx, "fake:m").complete(["q"])
    assert model.calls == 2 and not (tmp_path / "generation_cache.sqlite").exists()


def test_no_cache_flag_turns_off_both_caches():
    from cli import build_context

    ctx = build_context(None, (), {}, no_cache=True)
    assert ctx.tool_cache is False and ctx.generation_cache is False
    assert build_context(None, (), {}).generation_cache is True


def test_the_wrapper_keeps_what_the_model_offers(tmp_path, model):
    llm = load_model(ctx_for(tmp_path), "fake:m")
    assert llm.render("hi") == model.render("hi") and llm.count_tokens("abcdefgh") == 2
    assert llm.history is model.history  # any other attribute is the wrapped model's
    assert not hasattr(llm, "generate_raw")  # the scripted model continues no raw text, nor does its wrapper
    assert cached(llm, tmp_path / "g.sqlite").inner is model  # never wrapped twice


def test_a_warm_improve_run_makes_no_model_call(tmp_path, fake_llm, monkeypatch):
    """The whole graph, twice on one cache: the second run's optimizer, judge and policy are never asked."""
    import tools
    from graph.improve.graph import builder

    optimizer, policy, judge = fake_llm("optimizer"), fake_llm("policy"), fake_llm("judge")
    optimizer.script(PLAN)
    policy.respond = answer
    judge.respond = lambda messages: "Accurate and useful. Quality: 8\nFollowing: 7"
    monkeypatch.setattr(tools, "call_tool", FakeTools())
    ctx = ctx_for(tmp_path, policy="fake:policy", optimizer="fake:optimizer", judge="fake:judge", **SCRIPTED_PLAN)
    scored = []
    judge.logprob_fn = lambda context, continuation: scored.append(context) or [-1.0]
    first = builder.compile().invoke(TASK, context=ctx)["report"]
    calls = (optimizer.calls, policy.calls, judge.calls, len(scored))
    assert calls[0] and calls[1] and (calls[2] or calls[3])  # the judge generates or reads log-probs
    second = builder.compile().invoke(TASK, context=ctx.replace(run_dir=str(tmp_path / "run2")))["report"]
    assert (optimizer.calls, policy.calls, judge.calls, len(scored)) == calls
    assert second["held_out"] == first["held_out"] and second["accuracy"] == first["accuracy"]


def test_several_processes_share_one_cache_file(tmp_path, spawn):
    path = tmp_path / "shared.sqlite"
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(os.getcwd())!r})
        from llms.gencache import GenerationCache
        cache = GenerationCache({str(path)!r})
        for i in range(100):
            cache.put_many([(f"{{sys.argv[1]}}-{{i}}", "m", "chat", [{{"text": str(i)}}])])
            assert cache.get_many([f"{{sys.argv[1]}}-{{i}}"])
    """)
    procs = [spawn([sys.executable, "-c", script, name]) for name in ("a", "b", "c")]
    assert [p.wait() for p in procs] == [0, 0, 0]
    assert GenerationCache(path).stats()["entries"] == 300


def test_the_wrapper_offers_log_prob_scoring_only_where_the_model_does(tmp_path):
    import llms
    from llms import LLM, UnsupportedOperation

    class TextOnly(LLM):  # like an endpoint without echo: generation, no scoring
        def generate(self, prompts, params=None, *, batch_size=8):
            return [[llms.Generation(text="t")] for _ in prompts]

    wrapped = cached(TextOnly(spec="text:only"), tmp_path / "g.sqlite")
    assert type(wrapped).logprobs is LLM.logprobs
    with pytest.raises(UnsupportedOperation, match="text:only"):
        wrapped.logprobs(["a"], ["b"])
