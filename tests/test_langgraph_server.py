"""The improve graph served by the real LangGraph API server (``langgraph dev``), driven by the SDK.

A langgraph.json in a temporary folder names ``tests.langgraph_app:graph`` (the real improve graph,
with scripted models and a fake tool layer); ``langgraph dev`` runs from that folder, so its
in-memory state (``.langgraph_api/``) lands there and never in the repo. The test talks to it as a
host app would: ``langgraph_sdk.get_client`` -> thread -> run with ``input`` and ``context``.

Needs the dev extra ``langgraph-cli[inmem]``; skipped without it. Nothing leaves the machine: no
browser, no analytics, no version check, no LangSmith tracing.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("langgraph_api", reason="needs the dev extra langgraph-cli[inmem]")
pytest.importorskip("langgraph_cli", reason="needs the dev extra langgraph-cli[inmem]")
from langgraph_sdk import get_client  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
STARTUP_TIMEOUT_S = 90
OFFLINE_ENV = {
    "LANGGRAPH_CLI_NO_ANALYTICS": "1",  # langgraph-cli posts command usage otherwise
    "LANGGRAPH_NO_VERSION_CHECK": "true",  # langgraph-api asks PyPI for newer versions otherwise
    "LANGSMITH_TRACING": "false",
    "LANGCHAIN_TRACING_V2": "false",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "ANONYMIZED_TELEMETRY": "False",
    "PYTHONUNBUFFERED": "1",
    "LOG_COLOR": "false",  # plain server log, readable in assertion messages
}
# any of these turns on tracing, license checks or the usage-metadata loop
DROP_ENV = ("LANGSMITH_API_KEY", "LANGCHAIN_API_KEY", "LANGSMITH_CONTROL_PLANE_API_KEY", "LANGGRAPH_CLOUD_LICENSE_KEY",
            "LANGSMITH_ENDPOINT", "LANGCHAIN_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")

TASK = {
    "task": "capitals",
    "observed": ["What is the capital of Zorbia?"],
    "held_out": [{"instruction": "Which city is the capital of Zorbia?", "answers": ["Quxton"]},
                 {"instruction": "What is the capital of Narnia?", "answers": ["Cair Paravel"]}],
}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, folder: Path, start):
        self.folder, self.spawn = folder, start
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = folder / "server.log"
        self.proc: subprocess.Popen | None = None
        self.startup_s: float | None = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self) -> None:
        config = {"dependencies": [str(ROOT)], "graphs": {"improve": "tests.langgraph_app:graph"}}
        (self.folder / "langgraph.json").write_text(json.dumps(config, indent=2))
        env = {k: v for k, v in os.environ.items() if k not in DROP_ENV} | OFFLINE_ENV
        env["ADS_HOME"] = str(self.folder / "ads_home")  # nothing the graph defaults to lands in ~/.cache
        cmd = [sys.executable, "-m", "langgraph_cli", "dev", "--config", "langgraph.json", "--host", "127.0.0.1",
               "--port", str(self.port), "--no-browser", "--no-reload", "--server-log-level", "WARNING"]
        t0 = time.perf_counter()
        with open(self.log_path, "wb") as log:
            self.proc = self.spawn(cmd, cwd=self.folder, env=env, stdout=log, stderr=subprocess.STDOUT)
        while time.perf_counter() - t0 < STARTUP_TIMEOUT_S:
            if self.proc.poll() is not None:
                raise RuntimeError(f"langgraph dev exited with {self.proc.returncode}:\n{self.log()[-4000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/ok", timeout=1) as r:
                    if r.status == 200:
                        self.startup_s = time.perf_counter() - t0
                        return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"langgraph dev not ready after {STARTUP_TIMEOUT_S}s:\n{self.log()[-4000:]}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


@pytest.fixture(scope="module")
def server(tmp_path_factory, processes):
    srv = Server(tmp_path_factory.mktemp("langgraph_server"), processes)
    srv.start()
    print(f"langgraph dev ready in {srv.startup_s:.1f}s at {srv.url}")
    yield srv
    srv.stop()


def context(folder: Path) -> dict:
    return {"policy": "fake:policy", "optimizer": "fake:optimizer", "judge": "fake:judge",
            "run_dir": str(folder / "run"), "cache_path": str(folder / "cache.sqlite"), "memory_path": str(folder / "memory"),
            "anticipate": 0, "plan_observed": False, "curation": ["dedupe", "judge"]}  # tests.fakes.SCRIPTED_PLAN


def test_server_lists_improve_with_input_output_and_context_schemas(server):
    async def main():
        client = get_client(url=server.url)
        assistants = await client.assistants.search(graph_id="improve")
        assert len(assistants) == 1
        return await client.assistants.get_schemas(assistants[0]["assistant_id"])

    schemas = asyncio.run(main())
    # a schema the server cannot build comes back as None (the reason is only in its log)
    failed = [line for line in server.log().splitlines() if "Failed to get" in line]
    assert schemas["input_schema"] is not None and schemas["output_schema"] is not None, "\n".join(failed)
    assert set(schemas["input_schema"]["properties"]) == {"task", "description", "category", "observed", "held_out",
                                                          "checks", "observed_checks", "plan", "original_answers"}
    assert schemas["input_schema"]["properties"]["observed"] == {"items": {"type": "string"}, "title": "Observed", "type": "array"}
    assert set(schemas["output_schema"]["properties"]) == {"report"}
    assert {"policy", "optimizer", "judge", "run_dir", "max_calls"} <= set(schemas["context_schema"]["properties"])
    assert not failed


def test_a_host_runs_improve_through_the_sdk_and_reads_the_report(server, tmp_path):
    async def main():
        client = get_client(url=server.url)
        thread = await client.threads.create()
        out = await client.runs.wait(thread["thread_id"], "improve", input=TASK, context=context(tmp_path / "wait"))
        # the same run streamed, on a second thread: every stage reports in order
        thread2 = await client.threads.create()
        nodes = []
        async for part in client.runs.stream(thread2["thread_id"], "improve", input=TASK,
                                             context=context(tmp_path / "stream"), stream_mode="updates"):
            if part.event == "updates":
                nodes.extend(part.data)
        return out, nodes

    out, nodes = asyncio.run(main())
    assert "__error__" not in out, out
    report = out["report"]
    assert [(c["name"], c["argument"], c["cost"], c["status"], c["rows"]) for c in report["api_calls"]] == [
        ("information_retrieval", "Zorbia", 1.0, "ok", 1)]
    assert report["task"] == "capitals" and report["policy"] == "fake:policy" and report["optimizer"] == "fake:optimizer"
    assert report["cost_total"] == 1.0 and report["dataset_size"] == 1 and report["judge"] == "verifier"
    # the passage about Zorbia answers the first held-out question; nothing answers the second
    assert report["held_out"]["n"] == 2
    assert (report["held_out"]["win"], report["held_out"]["tie"], report["held_out"]["lose"]) == (1, 1, 0)
    assert report["accuracy"] == {"n": 2, "original": 0.0, "updated": 0.5, "gained": 1, "lost": 0}

    # the server process wrote the run where the context said
    run = tmp_path / "wait" / "run"
    assert report["run_dir"] == str(run)
    assert json.loads((run / "report.json").read_text())["held_out"] == report["held_out"]
    rows = [json.loads(line) for line in (run / "dataset.jsonl").read_text().splitlines()]
    assert rows[0]["text"] == "Zorbia is a country whose capital is Quxton."

    assert nodes == ["analyse", "parse", "tools", "judge", "ifd", "curate", "update", "gate", "evaluate", "report"]
    assert (server.folder / ".langgraph_api").is_dir()  # the server's state stays in its own folder
