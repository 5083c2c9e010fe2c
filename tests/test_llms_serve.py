"""The OpenAI-compatible server (llms/serve.py) batches concurrent requests: a scripted model
behind a real HTTP server, driven by the real openai client."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

import llms
from llms import ModelError, SamplingParams
from llms.serve import start_server


def wait_for(condition, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise AssertionError("condition not met in time")
        time.sleep(0.005)


@pytest.fixture
def served(fake_llm):
    model = fake_llm("served")
    server, url = start_server(model, model_name="served")
    yield model, server, llms.load(f"openai:served@{url}", concurrency=16)
    server.shutdown()


def test_requests_that_arrive_while_a_batch_runs_go_out_as_one_batch(served):
    model, server, remote = served
    queued = server.batcher._queue

    def respond(messages):
        if messages[-1]["content"] == "q0":  # the first request holds the model until the others wait
            wait_for(lambda: queued.qsize() == 7)
        return "reply to " + messages[-1]["content"]

    model.respond = respond
    with ThreadPoolExecutor(8) as pool:
        first = pool.submit(remote.complete, ["q0"])
        wait_for(lambda: model.calls == 1)
        rest = [pool.submit(remote.complete, [f"q{i}"]) for i in range(1, 8)]
        answers = [first.result()[0]] + [f.result()[0] for f in rest]
    assert answers == [f"reply to q{i}" for i in range(8)]
    assert server.batcher.batches == [1, 7]


def test_requests_with_other_sampling_params_are_batched_apart(served):
    model, server, remote = served
    model.respond = lambda messages: "ok"
    batcher = server.batcher
    with ThreadPoolExecutor(4) as pool:  # straight into the batcher, so all four are queued at once
        futures = [pool.submit(batcher.submit, "chat", [{"role": "user", "content": str(i)}],
                               SamplingParams(max_new_tokens=8 if i % 2 else 16)) for i in range(4)]
        assert all(f.result()[0].text == "ok" for f in futures)
    assert sorted(p.max_new_tokens for p in model.params) == [8, 8, 16, 16]
    assert sum(batcher.batches) == 4


def test_a_failing_batch_answers_every_request_with_the_error(served):
    model, server, _ = served
    model.respond = lambda messages: (_ for _ in ()).throw(RuntimeError("model broke"))
    remote = llms.load(f"openai:served@http://127.0.0.1:{server.server_address[1]}/v1", max_retries=0)
    with pytest.raises(ModelError, match="500.*model broke"):
        remote.complete(["hi", "there"])
