"""The optimizer's API-call text -> tool calls, leniently, and the budget that bounds them.

The optimizer is asked for ``<api_calls><api>name("arg")</api>...</api_calls>`` or
``<api_calls>none</api_calls>``. Small models drift from that: other quote marks, a missing
closing tag, the names the ADS paper's own examples use (``retrieve_information``). All of that
is accepted; nothing is ever evaluated as code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .table import TOOL_NAMES, resolve

_BLOCK = re.compile(r"<\s*api_calls\s*>(.*?)(?:<\s*/\s*api_calls\s*>|$)", re.S | re.I)
_API = re.compile(r"<\s*api\s*>(.*?)(?=<\s*/\s*api\s*>|<\s*api\s*>|<\s*/\s*api_calls\s*>|$)", re.S | re.I)
_CALL = re.compile(r"^\s*`?\s*(?:[A-Za-z_]\w*\.)?([A-Za-z_][\w ]*?)\s*\((.*)$", re.S)
_NONE = re.compile(r"^\s*(?:none|no calls?|nothing|n/?a|\[\s*\])\s*\.?\s*$", re.I)
_KEYWORD = re.compile(r"^\s*[A-Za-z_]\w*\s*=\s*(?=[\"'“‘`])")
_QUOTES = {'"': '"', "'": "'", "“": "”", "‘": "’", "`": "`", "«": "»"}


@dataclass
class Parsed:
    calls: list[tuple[str, str]] = field(default_factory=list)  # (our tool name, argument)
    none: bool = False  # the optimizer explicitly asked for no data
    errors: list[str] = field(default_factory=list)  # why pieces were rejected

    @property
    def ok(self) -> bool:
        """Usable: explicit ``none`` or at least one call. Anything else gets retried."""
        return self.none or bool(self.calls)


def resolve_name(raw: str, names: list[str] | None = None) -> str | None:
    """The API ``raw`` names (``tools.table.resolve``), if it is one of ``names`` (default: all)."""
    name = resolve(raw)
    return name if name is not None and (names is None or name in names) else None


def _unquote(text: str) -> str:
    text = text.strip()
    text = _KEYWORD.sub("", text)  # name(query="...") -> "..."
    for q in ('"""', "'''"):
        if text.startswith(q):
            end = text.find(q, 3)
            return text[3:end] if end >= 0 else text[3:]
    if text and text[0] in _QUOTES:
        close = _QUOTES[text[0]]
        # the closing quote is the last one: arguments may contain the other quote kind
        end = text.rfind(close, 1)
        inner = text[1:end] if end > 0 else text[1:]
        return inner.replace('\\"', '"').replace("\\'", "'")
    return text


def _argument(rest: str) -> str:
    """Everything inside name( ... ), tolerating a missing closing parenthesis."""
    rest = rest.strip()
    end = rest.rfind(")")
    inner = rest[:end] if end >= 0 else rest
    return " ".join(_unquote(inner).split())


def parse_api_calls(text: str, names: list[str] | None = None, *, cut_off: bool = False) -> Parsed:
    """Tool calls in ``text``, in order. Unknown names (or APIs not in ``names``, default all) and
    empty arguments become ``errors``. ``cut_off``: the reply ended at the token limit, so a last
    call without its closing parenthesis is an unfinished argument ("J" for "Jupiter"), an error."""
    names = list(names) if names is not None else list(TOOL_NAMES)
    out = Parsed()
    blocks = _BLOCK.findall(text or "")
    if blocks:
        body = "\n".join(blocks)
    elif re.search(r"<\s*api\s*>", text or "", re.I):
        body = text
    else:
        # no tags at all: accept bare lines that call a known API, nothing else
        body = "\n".join(f"<api>{line}" for line in (text or "").splitlines()
                         if _CALL.match(line) and resolve_name(_CALL.match(line).group(1), names))
        if not body:
            out.errors.append("no <api_calls> block and no known API call in the reply")
            return out
    pieces = [p.strip() for p in _API.findall(body)]
    if not pieces:
        if _NONE.match(re.sub(r"<[^>]*>", "", body)):
            out.none = True
        else:
            out.errors.append(f"<api_calls> holds neither <api> entries nor 'none': {body.strip()[:80]!r}")
        return out
    for position, piece in enumerate(pieces):
        piece = re.sub(r"<\s*/\s*api(_calls)?\s*>", "", piece).strip()
        if not piece or _NONE.match(piece):
            continue
        m = _CALL.match(piece)
        if not m:
            out.errors.append(f"not a call name(\"argument\"): {piece[:80]!r}")
            continue
        name = resolve_name(m.group(1), names)
        if name is None:
            out.errors.append(f"unknown API {m.group(1).strip()!r} (known: {', '.join(names)})")
            continue
        arg = _argument(m.group(2))
        if not arg:
            out.errors.append(f"{name}: empty argument")
            continue
        if cut_off and position == len(pieces) - 1 and ")" not in m.group(2):
            out.errors.append(f"{name}({arg!r}: cut off at the token limit before the call was finished")
            continue
        out.calls.append((name, arg))
    if not out.calls and not out.errors:
        out.none = True  # <api_calls><api>none</api></api_calls>
    return out


def within_budget(calls: list[tuple[str, str]], costs: dict, max_calls: int, max_cost: float,
                  spent: float = 0.0, price=None) -> tuple[list[dict], list[dict]]:
    """Keep calls in order while both budgets hold; the rest come back with the reason.

    ``price`` (optional) charges a whole plan: the kept calls so far plus the next one, as dicts with
    ``name``/``arg``/``cost`` -> their total cost as the run will charge it. Without it each call costs
    its API's price; a run whose retrieval calls share a passage budget passes its own rule (adding a
    retrieval call there re-prices the others), so the budget holds what is charged, not a per-call guess."""
    price = price or (lambda plan: sum(c["cost"] for c in plan))
    kept, dropped, seen = [], [], set()
    for name, arg in calls:
        cost = float(costs.get(name, 1.0))
        call = {"index": len(kept), "name": name, "arg": arg, "cost": cost}
        if (name, arg) in seen:
            dropped.append({"name": name, "arg": arg, "cost": cost, "reason": "duplicate call"})
        elif len(kept) >= max_calls:
            dropped.append({"name": name, "arg": arg, "cost": cost, "reason": f"over --max-calls {max_calls}"})
        elif spent + price(kept + [call]) > max_cost + 1e-9:
            dropped.append({"name": name, "arg": arg, "cost": cost, "reason": f"over --max-cost {max_cost:g}"})
        else:
            seen.add((name, arg))
            kept.append(call)
    return kept, dropped
