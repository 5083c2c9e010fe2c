"""One process of a launched training (trainers.launch): ``python -m trainers METHOD --data ROWS
--out DIR --base SPEC [--recipe FILE] [--cfg JSON]`` trains with run_sft / run_dpo."""

from __future__ import annotations

import argparse
import json

from .formats import read_rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m trainers", description=__doc__.split("\n")[0])
    parser.add_argument("method", choices=("sft", "dpo"))
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--base", required=True)
    parser.add_argument("--recipe")
    parser.add_argument("--cfg", default="{}")
    a = parser.parse_args(argv)
    if a.method == "sft":
        from .sft import run_sft as run
    else:
        from .dpo import run_dpo as run
    run(json.loads(a.cfg), read_rows(a.data, a.method), a.out, base=a.base, recipe=a.recipe)


if __name__ == "__main__":
    main()
