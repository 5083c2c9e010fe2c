"""The one place that reads an (instruction, response) pair out of a data row.

Rows come from the tools (``instruction``/``response``) and from public datasets (Alpaca's
``instruction``/``input``/``output``, GSM8K's and NQ-open's ``question``), so every scorer reads
them through here instead of guessing keys itself.
"""

from __future__ import annotations


def _field(row: dict, *keys: str) -> str:
    for key in keys:
        if row.get(key) is not None:
            return str(row[key])
    raise KeyError(f"row has no {' (or '.join(repr(k) for k in keys)}{')' * (len(keys) - 1)} field")


def instruction_of(row: dict) -> str:
    """The full instruction: ``instruction`` (or ``question``), plus Alpaca's ``input`` if any."""
    text = _field(row, "instruction", "question")
    extra = row.get("input") or ""
    return f"{text}\n\n{extra}" if extra.strip() else text


def response_of(row: dict) -> str:
    """The response text: ``response`` (or Alpaca's ``output``)."""
    return _field(row, "response", "output")
