"""Verifiers for tasks that carry their own answers or checks.

``verify(item, response)`` picks the verifier from the item:

* ``checks`` (IFEval ``[{"id": "length_constraints:number_words", "kwargs": {...}}, ...]``, or
  IFEval's own ``instruction_id_list`` + ``kwargs``): every check passes, judged by lm-eval's
  IFEval checkers (strict mode);
* ``answer`` holding ``"#### <number>"`` (GSM8K): the last number in the response equals it;
* ``answers`` (or NQ-open's ``answer`` list, or a plain ``answer`` string): normalized match;
* ``verifier`` ("qa" | "math" | "ifeval") forces the choice; nothing to verify -> None.

Normalized match (as NQ-open/SQuAD normalize: lowercase, drop punctuation, the articles a/an/the
and extra whitespace). NQ-open's official metric is exact match, which a chat model that answers
in a sentence almost never hits, so the default is *containment*: the normalized answer occurs in
the normalized response as whole words (``mode="exact"`` gives the official metric).
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import importlib.util
import io
import re
import string
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Sequence

from records.errors import AdsError

# -- QA ------------------------------------------------------------------------------------------
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = set(string.punctuation)


def normalize_answer(text: str) -> str:
    """Lowercase, strip punctuation and articles, collapse whitespace (the SQuAD/NQ-open rule)."""
    text = "".join(ch for ch in str(text).lower() if ch not in _PUNCT)
    return " ".join(_ARTICLES.sub(" ", text).split())


def qa_match(response: str, answers: Sequence[str], *, mode: str = "contains") -> bool:
    """True if any accepted answer matches the response (``mode``: "contains" or "exact")."""
    if mode not in ("contains", "exact"):
        raise ValueError(f"mode must be 'contains' or 'exact', not {mode!r}")
    pred = normalize_answer(response)
    for ans in answers:
        gold = normalize_answer(ans)
        if not gold:
            continue
        if pred == gold or (mode == "contains" and f" {gold} " in f" {pred} "):
            return True
    return False


# -- math ------------------------------------------------------------------------------------------
_NUMBER = re.compile(r"-?\$?\d[\d,]*(?:\.\d+)?")


def _to_decimal(text: str) -> Decimal | None:
    try:
        return Decimal(text.replace(",", "").replace("$", "").rstrip("."))
    except InvalidOperation:
        return None


def gold_number(answer: str) -> Decimal | None:
    """The number after GSM8K's ``#### `` marker (None if there is no marker)."""
    _, sep, tail = str(answer).rpartition("####")
    if not sep:
        return None
    found = _NUMBER.search(tail)
    return _to_decimal(found.group(0)) if found else None


def last_number(response: str) -> Decimal | None:
    found = _NUMBER.findall(response or "")
    return _to_decimal(found[-1]) if found else None


def math_match(response: str, answer: str | int | float) -> bool:
    """The response's last number equals the gold number (``"... #### 72"`` or a bare number)."""
    gold = gold_number(answer) if "####" in str(answer) else _to_decimal(str(answer))
    if gold is None:
        raise ValueError(f"no gold number in answer {str(answer)[-60:]!r}")
    pred = last_number(response)
    return pred is not None and pred == gold


# -- IFEval -----------------------------------------------------------------------------------------
def _sentences(text: str) -> list[str]:
    return _ifeval_util().split_into_sentences(text)


def _word_tokenize(text: str) -> list[str]:
    """nltk.word_tokenize without punkt: split sentences by IFEval's own regex splitter, then
    apply nltk's Treebank-style word tokenizer, which needs no data files."""
    from nltk.tokenize.destructive import NLTKWordTokenizer

    tok = NLTKWordTokenizer()
    return [w for s in _sentences(text) for w in tok.tokenize(s)]


class _OfflineNLTK:
    """Stands in for the ``nltk`` module inside lm-eval's IFEval files: the same module, except
    the two calls that need downloaded punkt data."""

    def __init__(self, nltk):
        self._nltk = nltk

    def __getattr__(self, name):
        return getattr(self._nltk, name)

    @staticmethod
    def word_tokenize(text, language="english", preserve_line=False):
        return _word_tokenize(text)

    @staticmethod
    def download(*args, **kwargs):  # never reach for the network
        return False


def _load_file(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@functools.lru_cache(maxsize=None)
def _ifeval():
    """lm-eval's IFEval registry, loaded file by file: importing ``lm_eval.tasks`` would pull
    in every task's dependencies (sacrebleu, ...) and the files try to download punkt."""
    import langdetect
    import nltk

    # langdetect samples: unseeded, the same text can be English on one call and not on the next,
    # and a verifier must give the same verdict twice
    langdetect.DetectorFactory.seed = 0
    spec = importlib.util.find_spec("lm_eval")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("IFEval checks need lm-eval: pip install --no-deps lm-eval langdetect immutabledict nltk")
    folder = Path(list(spec.submodule_search_locations)[0]) / "tasks" / "ifeval"
    pkg = "lm_eval.tasks.ifeval"
    names = ("lm_eval.tasks", pkg) + tuple(f"{pkg}.{m}" for m in ("instructions_util", "instructions", "instructions_registry"))
    saved = {k: sys.modules.get(k) for k in names}
    real_download = nltk.download
    try:
        # Placeholders so `from lm_eval.tasks.ifeval import x` inside the files resolves to the
        # modules loaded here, without running lm_eval/tasks/__init__.py.
        import types

        for k in ("lm_eval.tasks", pkg):
            if saved[k] is None:
                sys.modules[k] = types.ModuleType(k)
        nltk.download = _OfflineNLTK.download  # instructions_util downloads punkt_tab at import
        with contextlib.redirect_stdout(io.StringIO()):  # ... and then prints that it did
            util = _load_file(f"{pkg}.instructions_util", folder / "instructions_util.py")
        util.nltk = _OfflineNLTK(nltk)
        util.count_sentences = lambda text: len(util.split_into_sentences(text))
        setattr(sys.modules[pkg], "instructions_util", util)
        instructions = _load_file(f"{pkg}.instructions", folder / "instructions.py")
        setattr(sys.modules[pkg], "instructions", instructions)
        registry = _load_file(f"{pkg}.instructions_registry", folder / "instructions_registry.py")
    finally:
        nltk.download = real_download
        for k, v in saved.items():  # leave sys.modules as it was: lm_eval.tasks stays importable
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v
    return util, registry


def _ifeval_util():
    return _ifeval()[0]


def ifeval_instruction_ids() -> list[str]:
    return sorted(_ifeval()[1].INSTRUCTION_DICT)


class CheckError(AdsError, ValueError):
    """A check object that lm-eval's IFEval registry cannot run; the message names where it is."""


_IDS_FROM = ("the ids are lm-eval's IFEval instruction ids: python -c \"from scoring.verify import "
             "ifeval_instruction_ids as f; print(f())\"")


def _unknown_id(cid, registry, what: str = "check id") -> str:
    close = difflib.get_close_matches(cid, list(registry), n=3) if isinstance(cid, str) else []
    return f"unknown {what} {cid!r}" + (f"; did you mean {', '.join(close)}?" if close else "") + f" ({_IDS_FROM})"


def ifeval_checks(checks: Sequence[dict], response: str, *, prompt: str = "") -> list[bool]:
    """Whether ``response`` follows each IFEval check (lm-eval's strict rule)."""
    registry = _ifeval()[1].INSTRUCTION_DICT
    results = []
    for check in checks:
        cid = check.get("id") if isinstance(check, dict) else None
        if cid not in registry:
            raise CheckError(_unknown_id(cid, registry, "IFEval check id"))
        instruction = registry[cid](cid)
        kwargs = {k: v for k, v in (check.get("kwargs") or {}).items() if v is not None}
        instruction.build_description(**kwargs)
        args = instruction.get_instruction_args()
        if args and "prompt" in args:
            instruction.build_description(prompt=prompt)
        results.append(bool(response.strip()) and bool(instruction.check_following(response)))
    return results


_LIST_KWARGS = {"keywords", "forbidden_words", "key_sentences"}


def validate_checks(checks, *, where: str) -> list[dict]:
    """``[{"id", "kwargs"}]`` normalised, each id in lm-eval's registry and its kwargs accepted by
    that instruction (``build_description``'s parameters, and a value it takes); else CheckError
    naming ``where`` (e.g. "tasks/x.yaml: held_out[3]"), the bad id or kwarg and what would do."""
    import inspect

    registry = _ifeval()[1].INSTRUCTION_DICT
    if isinstance(checks, dict):
        checks = [checks]
    if not isinstance(checks, (list, tuple)):
        raise CheckError(f"{where}: checks must be a list of {{id, kwargs}} objects, got {type(checks).__name__}")
    out = []
    for n, check in enumerate(checks):
        at = f"{where}: check {n + 1}"
        if not isinstance(check, dict) or not isinstance(check.get("id"), str):
            raise CheckError(f"{at}: expected a mapping with an 'id' (an IFEval instruction id), got {check!r:.80}")
        cid, kwargs = check["id"], check.get("kwargs") or {}
        unknown = set(check) - {"id", "kwargs"}
        if unknown:
            raise CheckError(f"{at}: unknown field(s) {sorted(unknown)}; a check has 'id' and 'kwargs'")
        if cid not in registry:
            raise CheckError(f"{at}: {_unknown_id(cid, registry)}")
        if not isinstance(kwargs, dict):
            raise CheckError(f"{at}: kwargs of {cid} must be a mapping, got {type(kwargs).__name__}")
        kwargs = {k: v for k, v in kwargs.items() if v is not None}
        instruction = registry[cid](cid)
        accepted = [p for p in inspect.signature(instruction.build_description).parameters if p not in ("self", "prompt")]
        bad = sorted(set(kwargs) - set(accepted))
        if bad:
            raise CheckError(f"{at}: {cid} takes no kwarg(s) {', '.join(bad)}; it takes "
                             f"{', '.join(accepted) or 'none'}")
        for name in _LIST_KWARGS & set(kwargs):  # a string would be sorted into its letters
            value = kwargs[name]
            if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
                raise CheckError(f"{at}: {cid}'s {name} must be a list of strings, got {value!r:.80}")
        try:
            instruction.build_description(**kwargs)
        except KeyError as e:  # response_language looks its language code up
            known = sorted(getattr(_ifeval_util(), "LANGUAGE_CODES", {})) if "language" in kwargs else []
            raise CheckError(f"{at}: {cid} does not know the value {e.args[0] if e.args else e!r}" +
                             (f"; the language codes are {', '.join(known)}" if known else "")) from None
        except (TypeError, ValueError, AttributeError) as e:
            raise CheckError(f"{at}: {cid} cannot use kwargs {kwargs}: {e}") from None
        out.append({"id": cid, "kwargs": kwargs})
    return out


def failed_checks(checks: Sequence[dict], response: str, *, prompt: str = "") -> list[str]:
    """The ids of the checks ``response`` fails (lm-eval's strict rule); [] when it passes all."""
    return [c["id"] for c, ok in zip(checks, ifeval_checks(checks, response, prompt=prompt)) if not ok]


def describe_checks(checks: Sequence[dict]) -> list[str]:
    """One sentence per check, in the words IFEval itself uses to ask for it."""
    import inspect

    registry = _ifeval()[1].INSTRUCTION_DICT
    out = []
    for check in checks:
        cid, kwargs = check.get("id"), {k: v for k, v in (check.get("kwargs") or {}).items() if v is not None}
        try:
            instruction = registry[cid](cid)
            takes = [p for p in inspect.signature(instruction.build_description).parameters if p != "prompt"]
            # a kwarg left out would be drawn at random by lm-eval: then the id says it better
            text = instruction.build_description(**kwargs) if set(takes) <= set(kwargs) else None
        except Exception:  # an instruction that needs the prompt, or odd kwargs: its id says enough
            text = None
        out.append(" ".join(str(text).split()) if text else cid)
    return out


def redraw_checks(checks: Sequence[dict], *, seed: int, keep: Sequence[dict] = ()) -> list[dict]:
    """The same checks with the parameters lm-eval draws for them afresh (seeded): keywords, letters,
    counts and relations other than the ones given, as IFEval's own prompts vary them. A check with no
    parameters, one whose parameters need a prompt, and those in ``keep`` stay as they are."""
    import random

    registry = _ifeval()[1].INSTRUCTION_DICT
    state = random.getstate()  # lm-eval draws with the random module's own generator: leave it as it was
    try:
        random.seed(seed)
        out = []
        for check in checks:
            fresh = None
            if check not in keep and check.get("kwargs"):
                try:
                    instruction = registry[check["id"]](check["id"])
                    instruction.build_description()
                    fresh = instruction.get_instruction_args()
                except Exception:  # needs a prompt or odd parameters: keep the given ones
                    fresh = None
            out.append({"id": check["id"], "kwargs": fresh} if fresh else dict(check))
        return out
    finally:
        random.setstate(state)


def state_checks(checks: Sequence[dict]) -> str | None:
    """The checks in IFEval's own words, one sentence after another; None when one of them cannot
    be stated without a prompt of its own (its id is all ``describe_checks`` can give)."""
    words = describe_checks(checks)
    if not checks or any(w == c.get("id") for w, c in zip(words, checks)):
        return None
    return " ".join(words)


def with_checks(instruction: str, checks: Sequence[dict]) -> str:
    """``instruction`` with its checks stated after it in IFEval's words, those it already says left out."""
    words = [w for w, c in zip(describe_checks(checks), checks) if w != c.get("id") and w not in instruction]
    return " ".join([instruction.rstrip(), *words]) if words else instruction


def checks_of(item: dict) -> list[dict]:
    """The item's IFEval checks: ours (``checks``) or IFEval's own ``instruction_id_list`` + ``kwargs``."""
    if item.get("checks"):
        return list(item["checks"])
    ids, kwargs = item.get("instruction_id_list") or [], item.get("kwargs") or [{} for _ in item.get("instruction_id_list") or []]
    if len(ids) != len(kwargs):
        raise ValueError(f"{len(ids)} instruction ids but {len(kwargs)} kwargs")
    return [{"id": i, "kwargs": k} for i, k in zip(ids, kwargs)]


# -- dispatch ---------------------------------------------------------------------------------------
def verifier_of(item: dict) -> str | None:
    """Which verifier applies to ``item``: "ifeval", "math", "qa" or None."""
    if item.get("verifier"):
        if item["verifier"] not in ("qa", "math", "ifeval"):
            raise ValueError(f"unknown verifier {item['verifier']!r}: use qa, math or ifeval")
        return item["verifier"]
    if item.get("checks") or item.get("instruction_id_list"):
        return "ifeval"
    answer = item.get("answer")
    if isinstance(answer, str) and "####" in answer:
        return "math"
    if item.get("answers") or answer not in (None, "", []):
        return "qa"
    return None


def verify(item: dict, response: str, *, mode: str = "contains") -> bool | None:
    """Does ``response`` solve ``item``? None when the item carries nothing to verify."""
    kind = verifier_of(item)
    if kind is None:
        return None
    if kind == "ifeval":
        return all(ifeval_checks(checks_of(item), response, prompt=item.get("instruction") or item.get("prompt") or ""))
    if kind == "math":
        return math_match(response, item.get("answer") if item.get("answer") is not None else item["answers"][0])
    answers = item.get("answers") if item.get("answers") is not None else item.get("answer")
    if isinstance(answers, str):
        answers = [answers]
    return qa_match(response, answers, mode=mode)
