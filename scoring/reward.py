"""Reward-model judge: any transformers sequence-classification reward model, by name or path.

Each answer gets a scalar reward (logit 0 of the classifier head) for (instruction, answer),
rendered with the reward model's own chat template when it has one. A beats B when
reward(A) - reward(B) > tie_margin, loses when it is < -tie_margin, and ties otherwise. The
result is the same Verdict the LLM judge returns, so ``verdict.summarize`` applies unchanged.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Sequence

from .verdict import Verdict


@dataclass
class RewardModel:
    """A loaded reward model. Build it with ``RewardModel.load(name_or_path)``."""

    name: str
    model: Any = None
    tokenizer: Any = None
    device: str = "cpu"
    max_length: int = 2048
    _lock: Any = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def load(cls, name_or_path: str, *, device: str | None = None, dtype: str | None = None) -> "RewardModel":
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        import llms
        from llms.local import _torch_dtype

        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        try:
            tok = AutoTokenizer.from_pretrained(name_or_path)
            model = AutoModelForSequenceClassification.from_pretrained(name_or_path, dtype=_torch_dtype(dtype, device))
        except (OSError, ValueError) as e:
            raise llms.ModelError(
                f"cannot load reward model '{name_or_path}': {e}. Give a local folder holding a "
                "sequence-classification model, or a hub name on a machine with a network."
            ) from e
        if tok.pad_token_id is None:
            tok.pad_token = tok.eos_token
        model.config.pad_token_id = tok.pad_token_id  # batched scoring finds each row's last token by it
        model.to(device).eval()
        return cls(name=name_or_path, model=model, tokenizer=tok, device=device)

    def text(self, instruction: str, response: str) -> str:
        msgs = [{"role": "user", "content": instruction}, {"role": "assistant", "content": response}]
        if getattr(self.tokenizer, "chat_template", None):
            return self.tokenizer.apply_chat_template(msgs, tokenize=False)
        return f"User: {instruction}\n\nAssistant: {response}"

    def score(self, instructions: Sequence[str], responses: Sequence[str], *, batch_size: int = 8) -> list[float]:
        """Reward of each (instruction, response)."""
        import torch

        if len(instructions) != len(responses):
            raise ValueError(f"got {len(instructions)} instructions and {len(responses)} responses")
        texts = [self.text(q, r) for q, r in zip(instructions, responses)]
        out: list[float] = [0.0] * len(texts)
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        tok = self.tokenizer
        with self._lock, torch.inference_mode():
            for start in range(0, len(order), batch_size):
                idx = order[start: start + batch_size]
                tok.padding_side = "right"
                enc = tok([texts[i] for i in idx], return_tensors="pt", padding=True, truncation=True,
                          max_length=self.max_length, add_special_tokens=False).to(self.device)
                logits = self.model(**enc).logits.float()
                for row, i in enumerate(idx):
                    out[i] = float(logits[row, 0])
        return out


def verdicts_from_scores(scores_a: Sequence[float], scores_b: Sequence[float], *, tie_margin: float = 0.0) -> list[Verdict]:
    """Win/tie/lose for A from reward differences; |difference| <= tie_margin is a tie."""
    if tie_margin < 0:
        raise ValueError("tie_margin must be >= 0")
    out = []
    for a, b in zip(scores_a, scores_b, strict=True):
        d = a - b
        winner = "A" if d > tie_margin else "B" if d < -tie_margin else "tie"
        out.append(Verdict(reasoning=f"reward A={a:.4f} B={b:.4f} (difference {d:+.4f}, tie margin {tie_margin})",
                           winner=winner, raw=f"{a}\t{b}", orders=(winner,)))
    return out


def reward_pairwise(rm: RewardModel | str, instructions: Sequence[str], answers_a: Sequence[str],
                    answers_b: Sequence[str], *, tie_margin: float = 0.0, batch_size: int = 8) -> list[Verdict]:
    """Judge each (instruction, A, B) by reward difference. ``rm``: a RewardModel or a name/path."""
    if isinstance(rm, str):
        rm = RewardModel.load(rm)
    n = len(instructions)
    if not (len(answers_a) == len(answers_b) == n):
        raise ValueError(f"got {n} instructions, {len(answers_a)} answers A and {len(answers_b)} answers B")
    scores = rm.score(list(instructions) * 2, list(answers_a) + list(answers_b), batch_size=batch_size)
    return verdicts_from_scores(scores[:n], scores[n:], tie_margin=tie_margin)
