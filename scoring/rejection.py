"""Rejection sampling's verdicts: several answers to one instruction, verified by lm-eval's
checkers and, with ``edit``, edited toward the checks they miss (``scoring.edit``) first."""

from __future__ import annotations

from typing import Sequence

from .edit import edit_toward
from .verify import failed_checks


class Sampled:
    """Rejection sampling's verdicts on several answers to one instruction: ``failed[i]`` the checks
    answer i fails as sampled ([] when it passes; an empty answer fails "empty response"),
    ``passing`` the indexes that pass, ``failing`` {check id: answers that failed it}, ``why`` the
    sentence a caller gives when none passed.

    With ``edit``, an answer that fails is edited toward the checks it fails that prescribe a form
    (``scoring.edit``) and verified again: where the edited text passes every check, its index joins
    ``passing`` and ``edited`` ({index: ids edited}), and ``answers[i]`` is the edited text. ``answers``
    is what a caller keeps; ``failed`` and ``failing`` stay the verdicts on the samples as written."""

    def __init__(self, checks: Sequence[dict], answers: Sequence[str], *, prompt: str = "", edit: bool = False):
        self.answers = list(answers)
        self.failed = [failed_checks(checks, a, prompt=prompt) if a.strip() else ["empty response"] for a in answers]
        self.edited: dict[int, list[str]] = {}
        self.edit = edit
        if edit:
            for i, bad in enumerate(self.failed):
                if bad and answers[i].strip():
                    text, done = edit_toward(checks, answers[i], prompt=prompt)
                    if done and not failed_checks(checks, text, prompt=prompt):
                        self.answers[i], self.edited[i] = text, done
        self.passing = [i for i, bad in enumerate(self.failed) if not bad or i in self.edited]
        self.failing: dict[str, int] = {}
        for bad in self.failed:
            for cid in bad:
                self.failing[cid] = self.failing.get(cid, 0) + 1

    def distinct(self, keep: int = 0) -> list[int]:
        """The indexes of ``passing`` whose answers differ in more than white space, in sample order;
        the first ``keep`` of them (0: all)."""
        out, seen = [], set()
        for i in self.passing:
            key = " ".join(self.answers[i].split())
            if key in seen:
                continue
            seen.add(key)
            out.append(i)
            if len(out) == keep:
                break
        return out

    def why(self, what: str = "sample", against: str = "") -> str:
        """E.g. "no sample of 8 passed the task's checks (failing: startend:quotation x8)"."""
        return (f"no {what} of {len(self.failed)} passed{' ' + against if against else ''}"
                f"{', edited toward them or not' if self.edit else ''} (failing: "
                f"{', '.join(f'{k} x{v}' for k, v in self.failing.items())})")


__all__ = ["Sampled"]
