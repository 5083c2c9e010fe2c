"""What a Ray worker of the executor tests runs first (``ray_setup=tests.ray_units:install``): the
scripted models of tests/test_graph_evaluate.py and the counting fake tools, as the driver has them.

Every tool call is logged as a JSON line ``[run_dir, name, arg, pid]`` to ``$ADS_TEST_CALLS``;
with ``$ADS_TEST_KILL_AT`` set, the first worker to call a tool with that argument dies in the
middle of the call (``os._exit``: no cleanup, no checkpoint), once; ``$ADS_TEST_TOOL_SECONDS``
makes each call take that long (so a test can kill the driver while units are in flight).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from tests.fakes import PLAN, FakeTools, ScriptedLLM, answer

REPLIES = {"optimizer": lambda m: PLAN, "policy": answer, "judge": lambda m: "Quality: 8\nFollowing: 8"}


class LoggedTools(FakeTools):
    def __call__(self, name, arg, ctx):
        log = Path(os.environ["ADS_TEST_CALLS"])
        with log.open("a") as f:
            f.write(json.dumps([ctx.run_dir, name, arg, os.getpid()]) + "\n")
        marker = log.with_suffix(".killed")
        if arg == os.environ.get("ADS_TEST_KILL_AT"):
            # the marker is created atomically: of two workers reaching the call at once, one dies
            # (an exists() check and then a write once let both die, and the test saw two cut-off units)
            try:
                os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except FileExistsError:
                pass  # another worker died in this call already
            else:
                os._exit(9)
        time.sleep(float(os.environ.get("ADS_TEST_TOOL_SECONDS") or 0))
        return super().__call__(name, arg, ctx)


def install() -> None:
    import llms
    import tools

    fakes: dict[str, ScriptedLLM] = {}

    def load(ms, **opts):
        if ms.name not in fakes:
            fakes[ms.name] = ScriptedLLM(spec=str(ms), respond=REPLIES[ms.name])
        return fakes[ms.name]

    llms.register_backend("fake", load)
    tools.call_tool = LoggedTools()
