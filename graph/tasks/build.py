"""Build target tasks (the task-file format of graph/tasks.py) from instruction sets.

* **Grouping**: by a label field (WizardLM's ``Skill``, Magpie's ``task_category`` or
  ``difficulty``, Vicuna's ``category``), or, without one, by k-means over the instructions'
  embeddings (the retrieval embedder); groups with fewer than ``min_size`` instructions are dropped.
* **Knowledge tasks** (rows that carry answers, e.g. NQ-open): only questions whose accepted
  answer is stated in one of the top ``retrieval_check_k`` passages the retriever finds for them
  are kept (so the data-collecting APIs can help in principle; the kept fraction is reported),
  then grouped by topic (k-means over question embeddings) and named after the passages they hit.
* **Split**: a seeded observed / held-out split within each task (3 observed by default, as the
  ADS paper), and a seeded train / validation / test split of the tasks themselves, disjoint.
* **Tasks with checks** (IFEval's ``input_data.jsonl``: ``instruction_id_list`` and ``kwargs``):
  every instruction keeps its checks; ``label="instruction_id"`` groups by a prompt's first
  instruction id, and the checks every member carries become the task's own ``checks``.
* **Augmentation** (``augment``): new held-out instructions in the style of a task's own, written
  by a model and dropped when ROUGE-L > 0.7 against the task's pool (Self-Instruct's filter).

``build(...)`` writes ``<out>/<split>/<task>.yaml`` and ``<out>/manifest.json`` (sources, counts,
kept fractions, which task is in which split) and returns the manifest.

* **Pins** (``pin`` / ``build_from_pin``): a built folder as the source's row numbers (which rows
  each task observes and holds out, in order, its split, name and description) plus the source
  file's SHA-256, a small JSON that holds none of the source's text. ``build_from_pin`` rewrites
  the same task files from the source on any machine. Grouping by topic and the corpus check rest
  on floating-point embeddings and retrieval scores, which differ across CPUs, so the same
  ``build`` call can give different tasks on two machines; a pin cannot.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from pathlib import Path

from records.errors import AdsError

SPLITS = ("train", "validation", "test")
TEXT_FIELDS = ("instruction", "Instruction", "question", "prompt", "turns")
ANSWER_FIELDS = ("answers", "answer")


class BuildError(AdsError, ValueError):
    """The source cannot become tasks; the message says why and what to do."""


def read_instructions(path: str | Path, *, label: str | None = None, limit: int | None = None) -> list[dict]:
    """``{"instruction", "label"?, "answers"?, "input"?}`` per source row."""
    from records import RecordError, read_records
    from records.ifeval import read_ifeval

    try:
        raw = read_records(path)
        if raw and raw[0].get("instruction_id_list"):  # IFEval's file: its shape checked row by row
            raw = read_ifeval(path)
    except RecordError as e:
        raise BuildError(str(e)) from None
    rows = []
    for i, r in enumerate(raw[:limit] if limit else raw):
        text = next((r[f] for f in TEXT_FIELDS if r.get(f)), None)
        if isinstance(text, list):  # Vicuna's "turns": the first turn is the instruction
            text = text[0] if text else None
        if not isinstance(text, str) or not text.strip():
            raise BuildError(f"{path}: row {i + 1} has no instruction (looked for {', '.join(TEXT_FIELDS)})")
        row = {"instruction": " ".join(text.split())}
        if r.get("input"):
            row["instruction"] += "\n\n" + str(r["input"]).strip()
        if r.get("checks"):  # IFEval (records.ifeval.read_ifeval): the prompt's checks
            row["checks"] = r["checks"]
        if label == "instruction_id" and row.get("checks"):  # grouped by the prompt's first instruction
            row["label"] = row["checks"][0]["id"]
        elif label is not None:
            if r.get(label) in (None, ""):
                raise BuildError(f"{path}: row {i + 1} has no label field {label!r}; fields: {', '.join(sorted(r))}")
            row["label"] = str(r[label])
        answers = next((r[f] for f in ANSWER_FIELDS if r.get(f) not in (None, "", [])), None)
        if answers is not None and "####" not in str(answers):  # a GSM8K solution is no answer list
            row["answers"] = [str(a) for a in (answers if isinstance(answers, list) else [answers])]
        rows.append(row)
    if not rows:
        raise BuildError(f"{path} holds no instructions")
    return rows


def slug(text: str, width: int = 40) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:width] or "task"


def group_by_label(rows: list[dict]) -> dict[str, list[dict]]:
    groups: dict[str, list[dict]] = {}
    for r in rows:
        groups.setdefault(r["label"], []).append(r)
    return groups


def group_by_clusters(rows: list[dict], *, k: int, embedder, seed: int = 0) -> list[list[dict]]:
    """k-means (scikit-learn) over the instructions' embeddings; clusters in order of first member."""
    import numpy as np
    from sklearn.cluster import KMeans

    k = max(1, min(k, len(rows)))
    vectors = np.asarray(embedder.encode([r["instruction"] for r in rows]), dtype=np.float64)
    labels = KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(vectors)
    clusters: dict[int, list[dict]] = {}
    for r, lab in zip(rows, labels):
        clusters.setdefault(int(lab), []).append(r)
    return list(clusters.values())


def stated_in_corpus(rows: list[dict], corpus, *, k: int = 5, candidates: int = 1000) -> tuple[list[dict], dict]:
    """Rows whose accepted answer appears (normalised, whole words) in a top-``k`` passage for the
    question; each kept row gets ``topic`` = the title of the first passage that states it."""
    from scoring.verify import qa_match
    from tools.retrieval import search

    kept = []
    for r in rows:
        for hit in search(corpus, r["instruction"], k=k, candidates=candidates):
            if qa_match(f"{hit.title}. {hit.text}", r["answers"]):
                kept.append({**r, "topic": hit.title})
                break
    return kept, {"questions": len(rows), "answer_in_top_passages": len(kept),
                  "kept_fraction": round(len(kept) / len(rows), 4) if rows else 0.0, "top_k": k}


def make_task(name: str, rows: list[dict], *, observed: int, max_held_out: int, seed: int,
              category: str | None = None, description: str | None = None) -> dict:
    """A task file's content: ``observed`` instructions, the rest (up to ``max_held_out``) held out."""
    order = list(range(len(rows)))
    random.Random(f"{seed}:{name}").shuffle(order)
    return task_of(name, [rows[i] for i in order[:observed]], [rows[i] for i in order[observed:observed + max_held_out]],
                   category=category, description=description)


def task_of(name: str, seen: list[dict], held_rows: list[dict], *, category: str | None = None,
            description: str | None = None) -> dict:
    """A task file's content from its observed and held-out source rows, in order."""
    held = []
    for r in held_rows:
        item = {"instruction": r["instruction"]}
        for key in ("answers", "checks"):
            if r.get(key):
                item[key] = r[key]
        held.append(item)
    task = {"name": name, "observed": [{"instruction": r["instruction"], "checks": r["checks"]} if r.get("checks")
                                       else r["instruction"] for r in seen], "held_out": held}
    members = seen + held_rows
    common = [c for c in members[0].get("checks") or [] if all(c in (m.get("checks") or []) for m in members)]
    if common:  # the checks every instruction of the task carries are the task's own
        task["checks"] = common
    if description:
        task["description"] = description
    if category:
        task["category"] = category
    return task


def split_tasks(names: list[str], fractions: tuple[float, float, float], seed: int) -> dict[str, list[str]]:
    """A seeded, disjoint train / validation / test split of task names (each split non-empty when possible)."""
    if len(fractions) != 3 or any(f < 0 for f in fractions) or not sum(fractions):
        raise BuildError(f"splits must be three non-negative fractions (train, validation, test), got {fractions}")
    order = sorted(names)
    random.Random(seed).shuffle(order)
    total = sum(fractions)
    n_val = round(len(order) * fractions[1] / total)
    n_test = round(len(order) * fractions[2] / total)
    if len(order) >= 3:
        n_val, n_test = max(n_val, 1 if fractions[1] else 0), max(n_test, 1 if fractions[2] else 0)
    n_train = max(len(order) - n_val - n_test, 0)
    return {"train": order[:n_train], "validation": order[n_train:n_train + n_val],
            "test": order[n_train + n_val:n_train + n_val + n_test]}


def augment_held_out(task: dict, llm, *, n: int, prompt: str, seed: int, batch_size: int = 8) -> tuple[dict, dict]:
    """Add up to ``n`` new held-out instructions written by ``llm`` in the style of the task's own
    (Self-Instruct: ROUGE-L > 0.7 against the pool drops a candidate). Added items carry no answers."""
    from tools.self_instruct import generate_instructions, rouge_filter

    pool = [{"instruction": t["instruction"] if isinstance(t, dict) else t} for t in task["observed"]] + \
        [{"instruction": h["instruction"] if isinstance(h, dict) else h} for h in task["held_out"]]
    # three candidates for each item wanted: the ROUGE-L filter drops the model's near-copies
    candidates = generate_instructions(llm, pool, n=3 * n, prompt=prompt, seed=seed, batch_size=batch_size)
    kept, dropped = rouge_filter([c["instruction"] for c in candidates], [p["instruction"] for p in pool])
    task = {**task, "held_out": task["held_out"] + [{"instruction": k} for k in kept[:n]]}
    return task, {"generated": len(candidates), "added": len(kept[:n]), "dropped": len(dropped)}


def write(tasks: dict[str, dict], splits: dict[str, list[str]], out: Path, manifest: dict) -> dict:
    import yaml

    out.mkdir(parents=True, exist_ok=True)
    manifest = {**manifest, "splits": splits, "tasks": {}}
    for split, names in splits.items():
        (out / split).mkdir(exist_ok=True)
        for name in names:
            path = out / split / f"{name}.yaml"
            path.write_text(yaml.safe_dump(tasks[name], sort_keys=False, allow_unicode=True, width=120), encoding="utf-8")
            manifest["tasks"][name] = {"split": split, "file": str(path.relative_to(out)), "observed": len(tasks[name]["observed"]),
                                       "held_out": len(tasks[name]["held_out"]), "category": tasks[name].get("category")}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
    return manifest


def build(source: str | Path, out: str | Path, *, name: str | None = None, label: str | None = None,
          clusters: int | None = None, group_size: int = 18, min_size: int = 5, observed: int = 3,
          max_held_out: int = 15, splits: tuple[float, float, float] = (0.6, 0.2, 0.2), seed: int = 0,
          limit: int | None = None, corpus=None, embedder=None, retrieval_check_k: int = 5,
          augment: int = 0, augment_llm=None, augment_prompt: str | None = None, log=print) -> dict:
    """Read ``source``, group, filter, split and write tasks under ``out`` (see the module docstring)."""
    source = Path(source)
    prefix = slug(name or source.stem, 24)
    rows = read_instructions(source, label=label, limit=limit)
    manifest: dict = {"source": str(source), "rows": len(rows), "label": label, "seed": seed, "observed": observed,
                      "min_size": min_size}
    knowledge = all(r.get("answers") for r in rows)
    if knowledge:
        if corpus is None:
            raise BuildError("rows carry answers (knowledge questions): pass the retrieval corpus to check them")
        rows, manifest["knowledge_filter"] = stated_in_corpus(rows, corpus, k=retrieval_check_k)
        log(f"{manifest['knowledge_filter']['answer_in_top_passages']} of {manifest['rows']} questions have their "
            f"answer in a top-{retrieval_check_k} passage ({manifest['knowledge_filter']['kept_fraction']:.1%})")
    if label is not None:
        groups = {f"{prefix}-{slug(k)}": (v, k) for k, v in group_by_label(rows).items()}
    else:
        if embedder is None:
            raise BuildError("without a label field the instructions are clustered: pass the embedder")
        k = clusters or max(1, len(rows) // group_size)
        groups = {}
        for i, members in enumerate(group_by_clusters(rows, k=k, embedder=embedder, seed=seed)):
            topic = Counter(m.get("topic") for m in members if m.get("topic")).most_common(1)
            title = f"{i:02d}-{slug(topic[0][0], 24)}" if topic else f"{i:02d}"
            groups[f"{prefix}-{title}"] = (members, topic[0][0] if topic else None)
        manifest["clusters"] = k
    small = {n: len(g[0]) for n, g in groups.items() if len(g[0]) < max(min_size, observed + 1)}
    manifest["dropped_groups"] = small
    tasks = {}
    for task_name, (members, tag) in groups.items():
        if task_name in small:
            continue
        category = tag if label is not None else ("knowledge" if knowledge else None)
        description = (f"Questions about {tag} and related topics." if knowledge and tag else
                       f"Instructions of the kind '{tag}'." if label is not None else None)
        tasks[task_name] = make_task(task_name, members, observed=observed, max_held_out=max_held_out, seed=seed,
                                     category=category, description=description)
    if not tasks:
        raise BuildError(f"no group reached {min_size} instructions ({len(groups)} groups): lower --min-size or "
                         "give more rows")
    if augment:
        if augment_llm is None or augment_prompt is None:
            raise BuildError("augmentation needs a model and its prompt")
        manifest["augmentation"] = {}
        for task_name in list(tasks):
            tasks[task_name], stats = augment_held_out(tasks[task_name], augment_llm, n=augment, prompt=augment_prompt,
                                                       seed=seed)
            manifest["augmentation"][task_name] = stats
    manifest["groups"] = len(groups)
    return write(tasks, split_tasks(list(tasks), splits, seed), Path(out), manifest)


PIN_FORMAT = 1


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def pin(folder: str | Path, source: str | Path) -> dict:
    """A built folder (``build``'s output) as row numbers of ``source`` (0-based, in the order
    ``read_instructions`` reads them) with the source's SHA-256: what ``build_from_pin`` needs to
    write the same tasks again, without any of the source's text."""
    import yaml

    folder, source = Path(folder), Path(source)
    manifest_file = folder / "manifest.json"
    if not manifest_file.exists():
        raise BuildError(f"{folder} has no manifest.json: pin a folder that tasks build wrote")
    manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
    if manifest.get("augmentation"):
        raise BuildError(f"{folder} holds instructions a model wrote (--augment), which are no rows of {source}: a pin "
                         "cannot hold them; share the folder itself")
    rows = read_instructions(source, label=manifest.get("label"))
    where: dict[str, list[int]] = {}
    for i, r in enumerate(rows):
        where.setdefault(r["instruction"], []).append(i)

    used: set[int] = set()

    def index(text: str, item: dict | None, task: str) -> int:
        for i in where.get(text, []):  # a repeated question: the next row whose answers and checks match
            if i not in used and (item is None or all(rows[i].get(k) == item.get(k)
                                                      for k in ("answers", "checks") if item.get(k))):
                used.add(i)
                return i
        raise BuildError(f"{folder}: task {task}: {text[:80]!r} is not a row of {source}: pin with the source the "
                         "tasks were built from")

    tasks = {}
    for name, info in manifest["tasks"].items():
        task = yaml.safe_load((folder / info["file"]).read_text(encoding="utf-8"))
        observed = [index(o["instruction"] if isinstance(o, dict) else o, o if isinstance(o, dict) else None, name)
                    for o in task["observed"]]
        held = [index(h["instruction"], h, name) for h in task["held_out"]]
        tasks[name] = {"split": info["split"], "observed": observed, "held_out": held,
                       **{k: task[k] for k in ("description", "category") if task.get(k) is not None}}
    kept = {k: v for k, v in manifest.items() if k not in ("tasks", "splits", "source", "pinned")}
    return {"format": PIN_FORMAT, "source": source.name, "source_sha256": _sha256(source), "manifest": kept,
            "tasks": tasks}


def build_from_pin(pin_data: dict, source: str | Path, out: str | Path) -> dict:
    """Write the tasks a pin describes from ``source`` (checked against the pin's SHA-256) under
    ``out``, as ``build`` does, and return the manifest (it names the pin's digest)."""
    source = Path(source)
    if not isinstance(pin_data, dict) or pin_data.get("format") != PIN_FORMAT or \
            not all(k in pin_data for k in ("source_sha256", "manifest", "tasks")):
        raise BuildError(f"not a pin of format {PIN_FORMAT} (format, source_sha256, manifest, tasks): write it again "
                         "with python cli.py tasks pin FOLDER --source FILE --out PIN")
    digest = _sha256(source)
    if digest != pin_data["source_sha256"]:
        raise BuildError(f"{source} is not the file the pin was made from (SHA-256 {digest[:12]} vs "
                         f"{pin_data['source_sha256'][:12]}): use that file, or build without the pin")
    rows = read_instructions(source, label=pin_data["manifest"].get("label"))
    tasks, splits = {}, {s: [] for s in SPLITS}
    for name, t in pin_data["tasks"].items():
        try:
            seen, held = [rows[i] for i in t["observed"]], [rows[i] for i in t["held_out"]]
        except IndexError:
            raise BuildError(f"pin task {name} names a row past the end of {source} ({len(rows)} rows)") from None
        tasks[name] = task_of(name, seen, held, category=t.get("category"), description=t.get("description"))
        splits[t["split"]].append(name)
    manifest = {"source": str(source), **pin_data["manifest"], "pinned": pin_digest(pin_data)}
    return write(tasks, splits, Path(out), manifest)


def read_pin(path: str | Path) -> dict:
    """A pin file's content (``build_from_pin`` checks its shape); a file that is not JSON is a clear error."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise BuildError(f"{path} is not a pin (JSON: {e}): write one with python cli.py tasks pin") from None


def write_pin(pin_data: dict, path: str | Path) -> None:
    Path(path).write_text(json.dumps(pin_data, indent=1) + "\n", encoding="utf-8")


def pin_digest(pin_data: dict) -> str:
    import hashlib

    return hashlib.sha256(json.dumps(pin_data, sort_keys=True).encode()).hexdigest()[:16]
