"""The one place that reads an (instruction, response) pair out of a data row.

Rows come from the tools (``instruction``/``response``) and from public datasets (Alpaca's
``instruction``/``input``/``output``, GSM8K's and NQ-open's ``question``), so every scorer reads
them through here instead of guessing keys itself.
"""

from __future__ import annotations


def instruction_of(row: dict) -> str:
    """The full instruction: ``instruction`` (or ``question``), plus Alpaca's ``input`` if any."""
    text = row.get("instruction")
    if text is None:
        text = row.get("question")
    if text is None:
        raise KeyError("row has no 'instruction' (or 'question') field")
    extra = row.get("input") or ""
    return f"{text}\n\n{extra}" if extra.strip() else str(text)


def response_of(row: dict) -> str:
    """The response text: ``response`` (or Alpaca's ``output``)."""
    text = row.get("response")
    if text is None:
        text = row.get("output")
    if text is None:
        raise KeyError("row has no 'response' (or 'output') field")
    return str(text)
