"""Shared pieces of the failure drills: a scriptable OpenAI-compatible server, the reasoning slice
(question_seeds -> judge_answers) with its resources, and what to look at in a lake after a failure."""

import hashlib
import json
import os
import shutil
import sqlite3
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tests.support.resources import make_resources

REPO = Path(__file__).resolve().parents[2]
SEEDS = REPO / "sample" / "seeds" / "medqa_demo.jsonl"
PARTITION = "medqa_demo"
MODEL = "drill-model"
ENDPOINT_PATH = "/v1/chat/completions"


def answer_letter(user: str) -> str:
    return "ABCD"[int(hashlib.sha256(user.encode()).hexdigest()[:8], 16) % 4]


class DrillServer:
    """OpenAI-compatible ``/v1/chat/completions`` on 127.0.0.1 whose behaviour is chosen per request.

    ``mode(user_text, n)`` (``n``: 1-based number of the request) returns one of: ``"answer"`` (a reply with
    ``<think>`` and ``<answer>X</answer>``, X a fixed function of the prompt), ``"no_answer"`` (plain prose, no
    ``<answer>`` block), ``"500"``, ``"malformed"`` (HTTP 200, body not JSON), ``"timeout"`` (answers only after
    ``slow_s`` seconds) or ``"hold"`` (never answers; the connection is dropped once ``release`` is set).
    ``answered`` lists the user texts of the successful replies sent, in order.
    """

    def __init__(self) -> None:
        self.mode = lambda user, n: "answer"
        self.slow_s = 2.0
        self.requests = 0
        self.answered: list[str] = []
        self.behaviours: dict[str, int] = {}
        self.release = threading.Event()
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                user = body["messages"][-1]["content"]
                with server._lock:
                    server.requests += 1
                    n = server.requests
                behaviour = server.mode(user, n)
                with server._lock:
                    server.behaviours[behaviour] = server.behaviours.get(behaviour, 0) + 1
                try:
                    self._respond(behaviour, user, body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def _send(self, status: int, payload: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                self.wfile.flush()

            def _respond(self, behaviour: str, user: str, body: dict) -> None:
                if self.path != ENDPOINT_PATH:
                    return self._send(404, b'{"error": "not found"}')
                if behaviour == "500":
                    return self._send(500, b'{"error": {"message": "internal error"}}')
                if behaviour == "malformed":
                    return self._send(200, b'{"choices": [{"message": {"content": "<answer>A</ans')
                if behaviour == "timeout":
                    time.sleep(server.slow_s)
                if behaviour == "hold":  # never answered: the connection is dropped once released
                    server.release.wait(120)
                    return None
                if behaviour == "no_answer":
                    text = "The findings point to one of the listed options, but I would rather not commit."
                else:
                    text = f"<think>Weighing each option against the findings.</think>\n<answer>{answer_letter(user)}</answer>"
                n = int(body.get("n", 1))
                choices = [
                    {"index": i, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}
                    for i in range(n)
                ]
                usage = {
                    "prompt_tokens": len(user.split()),
                    "completion_tokens": 12 * n,
                    "total_tokens": len(user.split()) + 12 * n,
                }
                self._send(
                    200,
                    json.dumps(
                        {
                            "id": "drill",
                            "object": "chat.completion",
                            "model": body["model"],
                            "choices": choices,
                            "usage": usage,
                        }
                    ).encode(),
                )
                with server._lock:
                    server.answered.append(user)

        class Server(ThreadingHTTPServer):
            request_queue_size = 128  # the default 5 drops SYNs of a burst: connect timeouts the drill did not ask for

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.handle_error = lambda *a: None
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.endpoint = self.base_url + "/chat/completions"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def reset(self, mode=None) -> None:
        with self._lock:
            self.requests = 0
            self.answered = []
            self.behaviours = {}
        if mode is not None:
            self.mode = mode

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


# ------------------------------------------------------------------------------------------ the reasoning slice
def make_env(
    root: Path, name: str, base_url: str = "", seed_files: dict[str, bytes] | None = None, **llm_settings
) -> dict:
    """A fresh inbox (the sample seed file, or ``seed_files``), lake and LLM cache under ``root/name``."""
    base = Path(root) / name
    inbox = base / "inbox"
    inbox.mkdir(parents=True)
    if seed_files is None:
        shutil.copy(SEEDS, inbox / SEEDS.name)
    else:
        for fname, data in seed_files.items():
            (inbox / fname).write_bytes(data)
    env = {"base": str(base), "inbox": str(inbox), "lake": str(base / "lake"), "cache": str(base / "cache")}
    if base_url:
        env["llm"] = dict(backend="openai", model=MODEL, base_url=base_url, cache_dir=env["cache"], **llm_settings)
    return env


def resources_for(env: dict) -> dict:
    from citrus_assets.reasoning_data.seeds.judges import JudgePanelResource
    from resources.inbox import InboxResource
    from resources.llm import LLMResource

    res = make_resources(env["lake"], inbox=InboxResource(seeds_dir=env["inbox"]))
    if "llm" in env:
        res["llm"] = LLMResource(**env["llm"])
        res["judges"] = JudgePanelResource()
    return res


def slice_assets(names):
    from citrus_assets.reasoning_data.questions import assets as question_assets
    from citrus_assets.reasoning_data.seeds import assets

    table = {
        "question_seeds": assets.question_seeds,
        "judge_answers": assets.judge_answers,
        "question_difficulty": question_assets.question_difficulty,
    }
    return [table[n] for n in names]


def materialize(env: dict, names, partition: str = PARTITION, instance=None, raise_on_error: bool = True):
    """Materialize the named slice assets for one seed-set partition (a fresh ephemeral instance by default)."""
    import dagster as dg

    from citrus_assets.reasoning_data.seeds.assets import seed_sets

    if instance is None:
        instance = dg.DagsterInstance.ephemeral()
    if partition not in instance.get_dynamic_partitions(seed_sets.name):
        instance.add_dynamic_partitions(seed_sets.name, [partition])
    return dg.materialize(
        slice_assets(names),
        partition_key=partition,
        resources=resources_for(env),
        instance=instance,
        raise_on_error=raise_on_error,
    ), instance


def metadata(result, asset: str) -> dict:
    for ev in result.get_asset_materialization_events():
        if ev.asset_key.to_user_string() == asset:
            return {k: v.value for k, v in ev.materialization.metadata.items()}
    raise KeyError(f"no materialization of {asset} in the run")


def step_errors(result) -> dict[str, str]:
    """``{step key: the full error text, causes included}`` of the failed steps of a run."""
    return {
        ev.step_key: ev.step_failure_data.error.to_string()
        for ev in result.all_events
        if ev.event_type_value == "STEP_FAILURE"
    }


def materialization_count(instance, asset: str) -> int:
    import dagster as dg

    return len(instance.fetch_materializations(dg.AssetKey(asset), limit=100).records)


# ------------------------------------------------------------------------------------------ lake inspection
def lake_files(lake_root: str) -> list[str]:
    """Every file under the lake, relative, sorted."""
    out = []
    for folder, _, files in os.walk(lake_root):
        out += [os.path.relpath(os.path.join(folder, f), lake_root) for f in files]
    return sorted(out)


def temp_leftovers(lake_root: str) -> list[str]:
    """Temp files of interrupted atomic writes (``.tmp-*`` of the lake, ``.*.tmp`` of the lineage writer)."""
    return [
        f
        for f in lake_files(lake_root)
        if os.path.basename(f).startswith(".tmp-") or (os.path.basename(f).startswith(".") and f.endswith(".tmp"))
    ]


def lineage_commits(lake_root: str, asset: str) -> list[str]:
    """The lineage commit files (materializations rows) of ``asset``, relative to the lake."""
    return [f for f in lake_files(lake_root) if f.startswith(f"_lineage/materializations/{asset}/")]


def data_file(lake_root: str, asset: str, partition: str = PARTITION) -> Path:
    return Path(lake_root) / asset / partition / "data.parquet"


def cache_rows(cache_dir: str) -> int:
    """Rows in the LLM request cache (0 when it does not exist yet or is busy)."""
    path = Path(cache_dir) / "llm_cache.sqlite"
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1) as con:
            return con.execute("SELECT count(*) FROM generations").fetchone()[0]
    except sqlite3.Error:
        return 0


def wait_for(predicate, timeout: float, what: str, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")


def table_without(table, *columns):
    """``table`` minus ``columns``, rows sorted by record_id (for comparing two runs)."""
    t = table.drop_columns([c for c in columns if c in table.column_names])
    return t.sort_by("record_id")
