"""Serve a local model over the OpenAI-compatible API (chat completions, completions with echo
log-probs, models), so several processes or machines can share one loaded model.

Concurrent requests are batched: each HTTP thread hands its request to one ``Batcher``, whose
worker runs everything that has arrived as one batched call per kind (chat, raw completion,
echo scoring) and sampling parameters. While a batch runs, the next requests queue up and go
out together, so 16 concurrent clients cost about one batched generation instead of 16 in a row
(``bench/serve.py``).

``transformers serve --continuous-batching`` (transformers 5) batches chat the same way on a GPU,
but it ignores ``echo``/``logprobs`` on completions, which IFD scoring over an endpoint needs;
this server covers both on a CPU box. For GPU throughput use ``vllm serve``.
"""

from __future__ import annotations

import json
import queue
import threading
import time
import uuid
from concurrent.futures import Future
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .base import LLM, SamplingParams


class Batcher:
    """One worker thread that runs queued requests in batches. ``submit`` blocks until its result."""

    def __init__(self, llm: LLM, *, max_batch: int = 32, window_s: float = 0.02):
        self.llm, self.max_batch, self.window_s = llm, max_batch, window_s
        self.batches: list[int] = []  # size of every batch run, for tests and the bench
        self._queue: queue.Queue = queue.Queue()
        threading.Thread(target=self._work, daemon=True, name="ads-batcher").start()

    def submit(self, kind: str, item, params: SamplingParams | None = None):
        done: Future = Future()
        self._queue.put((kind, item, params, done))
        return done.result()

    def _take(self) -> list:
        batch = [self._queue.get()]
        deadline = time.monotonic() + self.window_s  # requests sent together arrive within a few ms
        while len(batch) < self.max_batch:
            try:
                batch.append(self._queue.get(timeout=max(0.0, deadline - time.monotonic())))
            except queue.Empty:
                break
        return batch

    def _work(self) -> None:
        while True:
            groups: dict = {}
            for req in self._take():
                groups.setdefault((req[0], req[2]), []).append(req)
            for (kind, params), reqs in groups.items():
                self.batches.append(len(reqs))
                try:
                    results = self._run(kind, [r[1] for r in reqs], params)
                except Exception as e:  # every request of the failed batch gets the error
                    for r in reqs:
                        r[3].set_exception(e)
                    continue
                for r, result in zip(reqs, results):
                    r[3].set_result(result)

    def _run(self, kind: str, items: list, params):
        n = len(items)
        if kind == "chat":
            return self.llm.generate(items, params, batch_size=n)
        if kind == "raw":
            return self.llm.generate_raw(items, params, batch_size=n)
        if kind == "echo":
            return self.llm.logprobs([""] * n, items, batch_size=n)
        raise ValueError(f"unknown request kind {kind!r}")


def _params(body: dict) -> SamplingParams:
    stop = body.get("stop") or ()
    return SamplingParams(
        max_new_tokens=int(body.get("max_tokens") or 256),
        temperature=float(body.get("temperature") or 0.0),
        top_p=float(body.get("top_p") or 1.0),
        n=int(body.get("n") or 1),
        seed=body.get("seed"),
        stop=(stop,) if isinstance(stop, str) else tuple(stop),
    )


def _echo_logprobs(llm: LLM, batcher: Batcher, prompt: str) -> dict:
    enc = llm.tokenizer(prompt, add_special_tokens=False, return_offsets_mapping=True)
    values = batcher.submit("echo", prompt)
    tokens = [llm.tokenizer.decode([t]) for t in enc["input_ids"]]
    return {"tokens": tokens, "token_logprobs": values, "text_offset": [a for a, _ in enc["offset_mapping"]],
            "top_logprobs": None}


def make_handler(llm: LLM, model_name: str, batcher: Batcher | None = None):
    batcher = batcher or Batcher(llm)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # quiet by default
            pass

        def _send(self, code: int, payload: dict):
            data = json.dumps(payload).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path.rstrip("/").endswith("/models"):
                return self._send(200, {"object": "list", "data": [{"id": model_name, "object": "model"}]})
            self._send(404, {"error": {"message": f"no route {self.path}"}})

        def do_POST(self):
            try:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
            except json.JSONDecodeError as e:
                return self._send(400, {"error": {"message": f"invalid JSON: {e}"}})
            try:
                if self.path.endswith("/chat/completions"):
                    return self._send(200, self._chat(body))
                if self.path.endswith("/completions"):
                    return self._send(200, self._completion(body))
            except Exception as e:  # report model errors to the client instead of dropping the connection
                return self._send(500, {"error": {"message": f"{type(e).__name__}: {e}"}})
            self._send(404, {"error": {"message": f"no route {self.path}"}})

        def _chat(self, body: dict) -> dict:
            gens = batcher.submit("chat", body.get("messages") or [], _params(body))
            return {
                "id": f"chatcmpl-{uuid.uuid4().hex[:12]}", "object": "chat.completion", "created": int(time.time()),
                "model": model_name,
                "choices": [{"index": i, "message": {"role": "assistant", "content": g.text},
                             "finish_reason": g.finish_reason} for i, g in enumerate(gens)],
                "usage": {"prompt_tokens": gens[0].prompt_tokens,
                          "completion_tokens": sum(g.completion_tokens for g in gens),
                          "total_tokens": gens[0].prompt_tokens + sum(g.completion_tokens for g in gens)},
            }

        def _completion(self, body: dict) -> dict:
            prompt = body.get("prompt") or ""
            if isinstance(prompt, list):
                prompt = prompt[0] if prompt else ""
            params = _params(body)
            gens = batcher.submit("raw", prompt, params)
            choices = []
            for i, g in enumerate(gens):
                choice = {"index": i, "text": (prompt if body.get("echo") else "") + g.text,
                          "finish_reason": g.finish_reason, "logprobs": None}
                if body.get("echo") and body.get("logprobs") is not None:
                    choice["logprobs"] = _echo_logprobs(llm, batcher, prompt)
                choices.append(choice)
            return {"id": f"cmpl-{uuid.uuid4().hex[:12]}", "object": "text_completion", "created": int(time.time()),
                    "model": model_name, "choices": choices,
                    "usage": {"prompt_tokens": gens[0].prompt_tokens,
                              "completion_tokens": sum(g.completion_tokens for g in gens)}}

    return Handler


def start_server(llm: LLM, *, host: str = "127.0.0.1", port: int = 0, model_name: str | None = None,
                 max_batch: int = 32):
    """Start serving in a background thread; returns (server, base_url). ``server.shutdown()`` stops it.
    Up to ``max_batch`` concurrent requests run as one batch (``server.batcher.batches`` records them)."""
    name = model_name or llm.spec
    batcher = Batcher(llm, max_batch=max_batch)
    server = ThreadingHTTPServer((host, port), make_handler(llm, name, batcher))
    server.daemon_threads = True
    server.batcher = batcher
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://{host}:{server.server_address[1]}/v1"
