"""What every graph that judges rows shares: the judge's yes/no questions (read by log-probs)."""

from __future__ import annotations

from graph.context import Context


def judge_questions(ctx: Context) -> dict:
    """The yes/no questions a judge read by log-probs answers, per axis: (question, answer template)."""
    return {"quality": (ctx.prompt("JUDGE_QUALITY_QUESTION"), ctx.prompt("JUDGE_QUALITY_ANSWER")),
            "following": (ctx.prompt("JUDGE_FOLLOWING_QUESTION"), ctx.prompt("JUDGE_FOLLOWING_ANSWER"))}
