"""Serve a local model over the OpenAI-compatible API (chat completions, completions with echo
log-probs, models), so several processes or machines can share one loaded model.

For GPU throughput use ``vllm serve``; this server is for CPU boxes and for testing the
``openai:`` backend against a real HTTP server.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .base import LLM, SamplingParams


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


def _echo_logprobs(llm: LLM, prompt: str) -> dict:
    enc = llm.tokenizer(prompt, add_special_tokens=False, return_offsets_mapping=True)
    values = llm.logprobs([""], [prompt])[0]
    tokens = [llm.tokenizer.decode([t]) for t in enc["input_ids"]]
    return {"tokens": tokens, "token_logprobs": values, "text_offset": [a for a, _ in enc["offset_mapping"]],
            "top_logprobs": None}


def make_handler(llm: LLM, model_name: str):
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
            gens = llm.generate([body.get("messages") or []], _params(body))[0]
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
            gens = llm.generate_raw([prompt], params)[0]
            choices = []
            for i, g in enumerate(gens):
                choice = {"index": i, "text": (prompt if body.get("echo") else "") + g.text,
                          "finish_reason": g.finish_reason, "logprobs": None}
                if body.get("echo") and body.get("logprobs") is not None:
                    choice["logprobs"] = _echo_logprobs(llm, prompt)
                choices.append(choice)
            return {"id": f"cmpl-{uuid.uuid4().hex[:12]}", "object": "text_completion", "created": int(time.time()),
                    "model": model_name, "choices": choices,
                    "usage": {"prompt_tokens": gens[0].prompt_tokens,
                              "completion_tokens": sum(g.completion_tokens for g in gens)}}

    return Handler


def start_server(llm: LLM, *, host: str = "127.0.0.1", port: int = 0, model_name: str | None = None):
    """Start serving in a background thread; returns (server, base_url). ``server.shutdown()`` stops it."""
    name = model_name or llm.spec
    server = ThreadingHTTPServer((host, port), make_handler(llm, name))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://{host}:{server.server_address[1]}/v1"
