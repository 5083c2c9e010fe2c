"""The run's record: report.json (the contract), report.md (for people), trajectory.json.

The first lines of report.md (and ``report.json["outcome"]``) say whether the update helped or
hurt the policy on the held-out items, by how much, with the paired counts: a loss is never
left for the reader to find in a table.
"""

from __future__ import annotations

from pathlib import Path

from graph.context import Context
from graph.improve.gather import OFF_TOPIC, bought_passages, cost_rule, passage_budget, update_kind
from llms.factory import parse_spec


def api_calls(state: dict) -> list[dict]:
    """Every planned call as it went: name, argument, cost, latency, status, rows, error."""
    out = []
    for r in state.get("results") or []:
        out.append({"name": r.get("tool"), "argument": r.get("arg"), "cost": float(r.get("cost") or 0.0),
                    "status": r.get("status"), "cached": bool(r.get("cached")), "latency_s": r.get("latency_s"),
                    "rows": len(r.get("rows") or []), "error": r.get("error"),
                    **({"edited_from": r["edited_from"]} if r.get("edited_from") else {}),
                    # rows a check edit made pass (check_edits): the rest passed as sampled
                    **({"rows_edited": n} if (n := sum(bool((x.get("provenance") or {}).get("edited"))
                                                        for x in r.get("rows") or [])) else {})})
    return out


def outcome(summary: dict | None, accuracy: dict | None) -> dict:
    """helped / hurt / no change, from the verified accuracy when there is one, else win vs lose."""
    if summary is None:
        return {"verdict": "not measured", "text": "the update was not measured (measure=false)", "delta": None,
                "gained": None, "lost": None}
    s = summary
    if accuracy:
        delta = accuracy["updated"] - accuracy["original"]
        gained, lost = accuracy["gained"], accuracy["lost"]
        text = (f"verified accuracy {accuracy['original']:.1%} -> {accuracy['updated']:.1%} "
                f"({delta * 100:+.1f} points on {accuracy['n']} items: {gained} gained, {lost} lost)")
    else:
        delta, gained, lost = None, s.get("win", 0), s.get("lose", 0)
        text = (f"{gained} held-out answers better, {lost} worse, {s.get('tie', 0)} ties, "
                f"{s.get('no_verdict', 0)} without a verdict")
    verdict = "helped" if gained > lost else "hurt" if lost > gained else "no change"
    said = {"helped": "the update helped", "hurt": "the update hurt", "no change": "the update made no difference"}[verdict]
    return {"verdict": verdict, "text": f"{said}: {text}", "delta": delta, "gained": gained, "lost": lost}


AUTO_REASON = {"sft": "the task carries checks, so its rows are verified", "icl-knn": "the task carries no checks"}


def build_report(state: dict, ctx: Context, timings: dict) -> dict:
    evaluation = state.get("evaluation") or {}
    calls = api_calls(state)
    updated = state.get("updated") or {}
    parse_log = state.get("parse_log") or []
    return {
        "task": state.get("task"),
        "outcome": outcome(evaluation.get("summary"), evaluation.get("accuracy")),
        "update": update_kind(ctx, state),
        "update_setting": ctx.update,
        "sft_recipe": updated.get("recipe") or (updated.get("set_aside") or {}).get("recipe"),
        "policy": ctx.policy,
        "optimizer": ctx.optimizer,
        "optimizer_adapter": parse_spec(ctx.optimizer).adapter,  # None: the prompted optimizer; else refine's LoRA
        "api_calls": calls,
        "cost_total": round(sum(c["cost"] for c in calls), 4),
        "cost_rule": cost_rule(ctx, state),
        "passage_budget": passage_budget(ctx, state) or None,
        "passages_bought": sum(len(r.get("rows") or []) for r in state.get("results") or []
                               if r.get("status") == "ok" and r.get("tool") == "information_retrieval"),
        "passages_distinct": len(bought_passages(state)),
        "anticipated": (state.get("anticipated") or {}).get("questions") or [],
        "anticipated_dropped": (state.get("anticipated") or {}).get("dropped") or [],
        "anticipated_queries": ctx.anticipated_queries,
        "copied_calls_rejected": sum(len(p.get("copied") or []) for p in parse_log),
        "coverage": {k: v for k, v in (evaluation.get("coverage") or {}).items() if k != "per_item"} or None,
        "budget": {"max_calls": ctx.max_calls, "max_cost": ctx.max_cost},
        "dropped_calls": state.get("dropped") or [],
        "optimizer_attempts": len(parse_log),
        "parse_gave_up": next((p["gave_up"] for p in parse_log if p.get("gave_up")), None),
        "reply_not_asked": next((x["not_asked"] for x in state.get("optimizer_replies") or [] if x.get("not_asked")), None),
        "flagged_calls": [f for p in parse_log for f in p.get("flags") or []],
        "rows_gathered": sum(len(r.get("rows") or []) for r in state.get("results") or [] if r.get("status") == "ok"),
        "dataset_size": len(state.get("dataset") or []),
        "curation": state.get("curation") or [],
        "gate": {k: v for k, v in (state.get("gate") or {}).items() if k not in ("instructions", "dropped")} or None,
        "updated_policy": {k: v for k, v in updated.items() if k not in ("context", "gate")},
        "judge": evaluation.get("judge"),
        "held_out": evaluation.get("summary"),
        "accuracy": evaluation.get("accuracy"),
        "items": [{"instruction": r["instruction"], "winner": r["winner"], "passed": r.get("passed")}
                  for r in evaluation.get("records") or []],
        "tokens": sum(int(r.get("prompt_tokens") or 0) + int(r.get("completion_tokens") or 0)
                      for r in state.get("optimizer_replies") or []) +
                  sum(int(r.get("tokens") or 0) for r in state.get("results") or []),
        "timings": {k: round(v, 3) for k, v in timings.items()},
        "run_dir": str(ctx.run_dir),
        **({"rounds": [{k: v for k, v in r.items() if k != "updated"} for r in state.get("rounds") or []],
            "validation_items": evaluation.get("validation_items") or []} if ctx.rounds > 1 else {}),
    }


def _cell(x, width: int = 160) -> str:
    return str(x).replace("\n", " ").replace("|", "\\|")[:width]


def gate_lines(gate: dict | None) -> list[str]:
    """report.md's line on the gate, where it was applied."""
    if not (gate or {}).get("applied"):
        return []
    if not gate.get("items"):
        return [f"- gate: {gate['reason']}"]
    return [f"- gate (the run's own {gate['items']} new instructions with checks, asked before and after the update): "
            f"{gate['reason']}" + ("" if gate["kept"] else "; the policy is left as it was")]


def markdown(rep: dict, evaluation: dict) -> str:
    h = rep.get("held_out") or {}
    o = rep["outcome"]
    lines = [f"# Improve run: {rep['task']}", "",
             f"**{o['text'][0].upper() + o['text'][1:]}.**" + (" The updated policy is worse than the original here:"
                                                               " do not use it." if o["verdict"] == "hurt" else ""), "",
             f"- policy `{rep['policy']}`, optimizer `{rep['optimizer']}` "
             + (f"(refined: LoRA adapter `{rep['optimizer_adapter']}`)" if rep.get("optimizer_adapter") else "(prompted: no adapter)")
             + f", update **{rep['update']}**"
             + (f" (update=auto: {AUTO_REASON[rep['update']]})" if rep.get("update_setting") == "auto" else "")
             + (f", recipe {Path(rep['sft_recipe']).name}" if rep.get("sft_recipe") not in (None, "default") else ""),
             f"- API calls: {len(rep['api_calls'])}, cost {rep['cost_total']:g} "
             f"(budget {rep['budget']['max_calls']} calls / {rep['budget']['max_cost']:g})",
             f"- dataset: {rep['dataset_size']} curated rows of {rep['rows_gathered']} gathered",
             *gate_lines(rep.get("gate")),
             *([f"- update: {up['note']}"] if (up := rep.get("updated_policy") or {}).get("note") and "set_aside" not in up
               else []),
             f"- cost rule: {rep['cost_rule']}; {rep.get('passages_bought', 0)} passages bought "
             f"({rep.get('passages_distinct', 0)} distinct)",
             *([f"- anticipated instructions (the optimizer's; on a knowledge task each is "
                f"{'appended to the retrieval query of the observed instruction most like it' if rep.get('anticipated_queries') == 'expand' else 'an information_retrieval call'}, "
                f"on a task with checks a verified demonstration_generation call): "
                f"{'; '.join(rep['anticipated'])}"] if rep.get("anticipated") else []),
             *([f"- {OFF_TOPIC}, not bought: " + "; ".join(
                 f"{d['question']} ({d['reason'].removeprefix(OFF_TOPIC + ': ')})" for d in off)]
               if (off := [d for d in rep.get("anticipated_dropped") or [] if d["reason"].startswith(OFF_TOPIC)])
               else []),
             *([f"- copied calls rejected (the optimizer was asked again): {rep['copied_calls_rejected']}"]
               if rep.get("copied_calls_rejected") else []),
             *([f"- coverage: {rep['coverage']['with_context']} of {rep['coverage']['items']} held-out questions had a "
                f"bought row above the update's floor" + (f"; {rep['coverage']['answer_in_context']} of those contexts "
                                                           f"hold an accepted answer" if rep['coverage']['with_answers'] else "")
                + (f"; {rep['coverage']['unsupported']} answers drew too little on their context and were given "
                   f"without it" if rep['coverage'].get("unsupported") is not None else "")]
               if rep.get("coverage") else []),
             f"- held-out ({rep['judge']}): n={h.get('n')} win={h.get('win')} tie={h.get('tie')} "
             f"lose={h.get('lose')} no_verdict={h.get('no_verdict')} win_rate={h.get('win_rate')} "
             f"adjusted_win_rate={h.get('adjusted_win_rate')}"]
    if rep.get("parse_gave_up"):
        lines.append(f"- optimizer: {rep['parse_gave_up']}")
    if rep.get("reply_not_asked"):
        lines.append(f"- optimizer's reply not asked: {rep['reply_not_asked']}")
    for f in rep.get("flagged_calls") or []:
        lines.append(f"- flagged call {f['name']}({f['arg']!r}): {f['flag']}")
    if rep.get("rounds"):
        lines += ["", "## Rounds", "",
                  f"Each round was measured on {rep['rounds'][0]['validation_items']} validation item(s), a seeded third of the "
                  "held-out ones, which decided when to stop; the figures above come from the other items only "
                  "(see report.json: validation_items). rounds.png plots the score and cost by round.", "",
                  "| round | calls | cost | rows bought | dataset | validation score | gain | stop |", "|---|---|---|---|---|---|---|---|"]
        for r in rep["rounds"]:
            stop = (r.get("stop") or "") + (f" (kept round {r['kept_round'] + 1}'s update)" if r.get("kept_round") is not None else "")
            lines.append(f"| {r['round'] + 1} | {_cell(', '.join(r['calls']) or '-', 240)} | {r['cost']:g} | {r['rows_bought']} | "
                         f"{r['dataset_size']} | {r['validation_score']:.3f} ({r['metric']}) | {r['gain']:+.3f} | {stop} |")
    lines += ["", "## API calls", "", "| # | API | argument | cost | status | rows | cached | seconds |", "|---|---|---|---|---|---|---|---|"]
    for i, c in enumerate(rep["api_calls"], 1):
        status = c["status"] + (f" ({c['error']})" if c.get("error") else "")
        rows = f"{c['rows']} ({c['rows_edited']} edited)" if c.get("rows_edited") else c["rows"]
        lines.append(f"| {i} | {c['name']} | {_cell(c['argument'])} | {c['cost']:g} | {_cell(status)} | {rows} | "
                     f"{c['cached']} | {c.get('latency_s')} |")
    for d in rep["dropped_calls"]:
        lines.append(f"| - | {d.get('name', '?')} | {_cell(d.get('arg', ''))} | - | dropped: {_cell(d['reason'])} | | | |")
    lines += ["", "## Curation", "", "| step | in | kept | dropped | e.g. |", "|---|---|---|---|---|"]
    for c in rep["curation"]:
        example = "; ".join(f"{e['reason']}: {e['text'][:80]}" for e in c["examples"][:2])
        lines.append(f"| {c['step']} | {c['in']} | {c['kept']} | {c['dropped']} | {_cell(example, 240)} |")
    lines += ["", "## Timings (s)", "", " ".join(f"{k} {v:g}" for k, v in rep["timings"].items()), "",
              "## Held-out answers", "", "| instruction | winner | original | updated |", "|---|---|---|---|"]
    for r in evaluation.get("records") or []:
        updated = _cell(r["updated"])
        if r.get("unsupported") is not None:  # icl-knn's knn_answer_support
            updated = f"{updated} (asked without its context: the answer with it drew too little on it: {_cell(r['unsupported'])})"
        lines.append("| " + " | ".join(_cell(x) for x in (r["instruction"], r["winner"], r["original"])) + f" | {updated} |")
    return "\n".join(lines) + "\n"


def write_run(state: dict, rep: dict, run_dir: Path) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    trajectory = {
        "task": state.get("task"), "observed": state.get("observed"),
        "optimizer_replies": state.get("optimizer_replies") or [],
        "parse_log": state.get("parse_log") or [],
        "calls": state.get("calls") or [], "dropped": state.get("dropped") or [],
        "results": state.get("results") or [],
        "curation": state.get("curation") or [], "dropped_rows": state.get("dropped_rows") or [],
        "updated": state.get("updated") or {},
        "evaluation": state.get("evaluation") or {},
    }
    from records import write_json, write_report

    write_json(run_dir / "trajectory.json", trajectory)
    write_report(run_dir, "report", rep, markdown(rep, state.get("evaluation") or {}))
    if rep.get("rounds"):
        plot_rounds(rep["rounds"], run_dir / "rounds.png")


def plot_rounds(rounds: list[dict], path: Path) -> None:
    """Validation score and cumulative API cost by round."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = [r["round"] + 1 for r in rounds]
    fig, (a, b) = plt.subplots(1, 2, figsize=(8, 3.2))
    a.plot([0] + xs, [rounds[0]["validation_baseline"]] + [r["validation_score"] for r in rounds], "o-")
    a.set_xlabel("round (0: original policy)")
    a.set_ylabel(rounds[0]["metric"] + " (validation)")
    b.bar(xs, [r["cost"] for r in rounds])
    b.set_xlabel("round")
    b.set_ylabel("API cost")
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
