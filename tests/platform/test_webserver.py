"""The UI serves the asset graph from the repo's workspace.yaml (GraphQL, no browser)."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

QUERY = "{ assetNodes { assetKey { path } groupName isPartitioned } }"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def graphql(port: int, query: str) -> dict:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


@pytest.mark.slow
def test_webserver_shows_asset_graph(tmp_path, repo_root):
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text((repo_root / "dagster.yaml").read_text())
    env = {**os.environ, "DAGSTER_HOME": str(home), "CITRUS_LAKE": str(tmp_path / "lake")}
    port = free_port()
    webserver = Path(sys.executable).with_name("dagster-webserver")
    proc = subprocess.Popen(
        [str(webserver), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        cwd=repo_root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline, nodes = time.time() + 120, None
        while time.time() < deadline:
            try:
                data = graphql(port, QUERY)
                nodes = data["data"]["assetNodes"]
                if nodes:
                    break
            except OSError:
                pass
            assert proc.poll() is None, "webserver exited"
            time.sleep(1)
        assert nodes, "webserver did not serve the asset graph in time"
        by_key = {"/".join(n["assetKey"]["path"]): n for n in nodes}
        assert {"question_seeds", "judge_answers", "pdf_documents", "web_documents", "web_corpus"} <= set(by_key)
        assert {n["groupName"] for n in nodes} >= {"cpt_corpus", "reasoning_data"}
        assert by_key["judge_answers"]["groupName"] == "reasoning_data"
        assert by_key["judge_answers"]["isPartitioned"]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
