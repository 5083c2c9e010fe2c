"""transformers backend: CPU by default, GPU when torch sees one."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Sequence

from .base import LLM, Generation, ModelError, Prompt, SamplingParams, as_messages, import_module

COMPUTE_LOCK = threading.RLock()


def _torch_dtype(name: str | None, device: str):
    import torch

    if name in (None, "", "auto"):
        return torch.bfloat16 if device == "cuda" else torch.float32
    try:
        return {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16,
                "bf16": torch.bfloat16, "float16": torch.float16, "fp16": torch.float16}[name]
    except KeyError:
        raise ModelError(f"unknown dtype '{name}': use float32, bfloat16 or float16") from None


def _truncate_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    cut = min((i for i in (text.find(s) for s in stop if s) if i >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


def _follow_threads_each_step():
    """A logits processor that changes nothing but re-reads the free cores before each token."""
    from transformers import LogitsProcessor, LogitsProcessorList

    from .threads import follow_threads

    class FollowThreads(LogitsProcessor):
        def __call__(self, input_ids, scores):
            follow_threads()
            return scores

    return LogitsProcessorList([FollowThreads()])


@dataclass
class LocalLLM(LLM):
    path: str = ""
    dtype: str | None = None
    device: str | None = None
    adapter: str | None = None
    model: Any = None
    tokenizer: Any = None
    # One lock for every local model of the process: two models computing at once would each run
    # torch's full thread count on the same cores; batches inside one call use them instead.
    _lock: Any = field(default_factory=lambda: COMPUTE_LOCK, repr=False)

    @classmethod
    def open(cls, spec: str, path: str, *, dtype=None, device=None, adapter=None) -> "LocalLLM":
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        try:
            tok = AutoTokenizer.from_pretrained(path)
            model = AutoModelForCausalLM.from_pretrained(path, dtype=_torch_dtype(dtype, device))
        except OSError as e:
            raise ModelError(
                f"cannot load model '{path}' for spec '{spec}': {e}. Offline? Use a packaged model "
                "(python cli.py models list) or a local folder."
            ) from e
        if adapter:
            peft = import_module("peft", purpose="loading a LoRA adapter", install="pip install peft")
            model = peft.PeftModel.from_pretrained(model, adapter)
        model.to(device).eval()
        if tok.pad_token_id is None:
            tok.pad_token = tok.eos_token
        return cls(spec=spec, path=path, dtype=dtype, device=device, adapter=adapter, model=model,
                   tokenizer=tok, info={"backend": "local", "path": path, "device": device,
                                        "dtype": str(model.dtype), "adapter": adapter})

    # -- text helpers ----------------------------------------------------------------------
    def render(self, prompt: Prompt, *, add_generation_prompt: bool = True) -> str:
        msgs = as_messages(prompt)
        if getattr(self.tokenizer, "chat_template", None):
            return self.tokenizer.apply_chat_template(
                msgs, tokenize=False, add_generation_prompt=add_generation_prompt
            )
        # A base model without a template: plain role-prefixed text.
        text = "\n".join(f"{m['role']}: {m['content']}" for m in msgs)
        return text + ("\nassistant:" if add_generation_prompt else "")

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    # -- generation ------------------------------------------------------------------------
    def generate(self, prompts, params=None, *, batch_size: int = 8) -> list[list[Generation]]:
        return self.generate_raw([self.render(p) for p in prompts], params, batch_size=batch_size)

    def generate_raw(self, texts: Sequence[str], params=None, *, batch_size: int = 8) -> list[list[Generation]]:
        """Continue raw texts (no chat template): what /v1/completions serves."""
        import torch

        params = params or SamplingParams()
        tok = self.tokenizer
        out: list[list[Generation]] = [[] for _ in texts]
        # Longest first, so each batch holds prompts of similar length (less padding).
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        with self._lock, torch.inference_mode():
            for start in range(0, len(order), batch_size):
                idx = order[start : start + batch_size]
                tok.padding_side = "left"
                enc = tok([texts[i] for i in idx], return_tensors="pt", padding=True,
                          add_special_tokens=False).to(self.device)
                sample = params.temperature > 0
                if params.seed is not None:
                    torch.manual_seed(params.seed + start)
                kwargs = dict(max_new_tokens=params.max_new_tokens, do_sample=sample,
                              num_return_sequences=params.n, pad_token_id=tok.pad_token_id)
                if sample:
                    kwargs.update(temperature=params.temperature, top_p=params.top_p)
                else:
                    kwargs.update(temperature=None, top_p=None, top_k=None)
                if self.device == "cpu":  # threads follow the machine at every decoding step
                    kwargs["logits_processor"] = _follow_threads_each_step()
                seqs = self.model.generate(**enc, **kwargs)
                width = enc["input_ids"].shape[1]
                for row, seq in enumerate(seqs):
                    i = idx[row // params.n]
                    new = seq[width:]
                    n_new = int((new != tok.pad_token_id).sum()) if tok.pad_token_id is not None else len(new)
                    text = tok.decode(new, skip_special_tokens=True)
                    text, stopped = _truncate_at_stop(text, params.stop)
                    finish = "stop" if stopped or n_new < params.max_new_tokens else "length"
                    out[i].append(Generation(text=text.strip(), prompt_tokens=int(enc["attention_mask"][row // params.n].sum()),
                                             completion_tokens=n_new, finish_reason=finish))
        return out

    def _follow_threads(self) -> None:
        if self.device == "cpu":
            from .threads import follow_threads

            follow_threads()

    # -- scoring ---------------------------------------------------------------------------
    def _start_ids(self) -> list[int]:
        tok = self.tokenizer
        start = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
        return [start]

    def logprobs(self, contexts, continuations, *, batch_size: int = 8) -> list[list[float]]:
        import torch

        if len(contexts) != len(continuations):
            raise ValueError("contexts and continuations must have the same length")
        tok = self.tokenizer
        rows = []
        for ctx, cont in zip(contexts, continuations):
            c_ids = tok(ctx, add_special_tokens=False)["input_ids"] if ctx else self._start_ids()
            r_ids = tok(cont, add_special_tokens=False)["input_ids"]
            rows.append((c_ids, r_ids))
        results: list[list[float]] = [[] for _ in rows]
        order = sorted(range(len(rows)), key=lambda i: -(len(rows[i][0]) + len(rows[i][1])))
        pad = tok.pad_token_id
        with self._lock, torch.inference_mode():
            for start in range(0, len(order), batch_size):
                idx = order[start : start + batch_size]
                seqs = [rows[i][0] + rows[i][1] for i in idx]
                width = max(len(s) for s in seqs)
                ids = torch.full((len(seqs), width), pad, dtype=torch.long)
                mask = torch.zeros((len(seqs), width), dtype=torch.long)
                for r, s in enumerate(seqs):  # right padding: real tokens keep positions 0..n-1
                    ids[r, : len(s)] = torch.tensor(s)
                    mask[r, : len(s)] = 1
                self._follow_threads()
                logits = self.model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device)).logits
                logp = torch.log_softmax(logits.float(), dim=-1)
                for r, i in enumerate(idx):
                    c, resp = rows[i]
                    if not resp:
                        continue
                    pos = torch.arange(len(c) - 1, len(c) + len(resp) - 1, device=logp.device)
                    tgt = torch.tensor(resp, device=logp.device)
                    results[i] = logp[r, pos, tgt].tolist()
        return results

    def next_token_logprobs(self, texts, candidates, *, batch_size: int = 8) -> list[list[float]]:
        """One forward pass per text for the candidates that are one token when they follow it;
        longer candidates are scored exactly with ``logprobs``."""
        import torch

        tok = self.tokenizer
        ids = [tok(c, add_special_tokens=False)["input_ids"] for c in candidates]
        single = [j for j, t in enumerate(ids) if len(t) == 1]
        out = [[0.0] * len(candidates) for _ in texts]
        if single:
            order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
            with self._lock, torch.inference_mode():
                for start in range(0, len(order), batch_size):
                    idx = order[start:start + batch_size]
                    tok.padding_side = "left"  # the last position is every row's next token
                    enc = tok([texts[i] for i in idx], return_tensors="pt", padding=True,
                              add_special_tokens=False).to(self.device)
                    self._follow_threads()
                    logits = self.model(**enc).logits[:, -1, :].float()
                    logp = torch.log_softmax(logits, dim=-1)
                    for row, i in enumerate(idx):
                        for j in single:
                            out[i][j] = float(logp[row, ids[j][0]])
        multi = [j for j in range(len(candidates)) if j not in single]
        if multi:
            pairs = [(i, j) for i in range(len(texts)) for j in multi]
            got = self.logprobs([texts[i] for i, _ in pairs], [candidates[j] for _, j in pairs], batch_size=batch_size)
            for (i, j), lp in zip(pairs, got):
                out[i][j] = float(sum(lp))
        return out

    def release(self) -> None:
        import gc

        import torch

        self.model = None
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
