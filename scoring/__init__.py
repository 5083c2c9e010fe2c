"""Pure batch scorers, selected by name: ``scoring.get("ifd")(llm, rows)``.

| name        | function                          | returns                                   |
|-------------|-----------------------------------|-------------------------------------------|
| ifd         | ifd.ifd_scores(llm, rows)          | IFD per row (None: empty response)        |
| dual_ifd    | ifd.dual_ifd_scores(small, large, rows) | Star-Agents eq. 5 per row, at most 1; None where undefined |
| perplexity  | ifd.perplexity(llm, rows)          | ppl(response given instruction) per row   |
| pairwise    | judge.pairwise(llm, qs, a, b)      | Verdict per pair (both orders)            |
| reward      | reward.reward_pairwise(rm, qs, a, b, tie_margin) | Verdict per pair            |
| verify      | verify.verify(item, response)      | True / False / None (nothing to verify)   |
| assess      | assess.self_assess(llm, rows)      | Assessment per row (1-10 ratings)         |

Modules load on first use, so importing ``scoring`` never imports torch.
"""

from __future__ import annotations

import importlib
from typing import Callable

SCORERS: dict[str, str] = {
    "ifd": "scoring.ifd:ifd_scores",
    "dual_ifd": "scoring.ifd:dual_ifd_scores",
    "perplexity": "scoring.ifd:perplexity",
    "pairwise": "scoring.judge:pairwise",
    "reward": "scoring.reward:reward_pairwise",
    "verify": "scoring.verify:verify",
    "assess": "scoring.assess:self_assess",
}


def get(name: str) -> Callable:
    """The scorer registered as ``name`` (see SCORERS)."""
    try:
        module, _, attr = SCORERS[name].partition(":")
    except KeyError:
        raise KeyError(f"unknown scorer {name!r}; choose one of {', '.join(sorted(SCORERS))}") from None
    return getattr(importlib.import_module(module), attr)


__all__ = ["SCORERS", "get"]
