"""The lab's JupyterLab defaults: written where JupyterLab reads them, and served by a real JupyterLab."""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from labkit.cli.jupyter_settings import OVERRIDES, write_overrides

SCHEMAS = Path(sys.prefix) / "share" / "jupyter" / "lab" / "schemas"


def test_every_override_names_a_real_setting(tmp_path: Path) -> None:
    written = json.loads(write_overrides(tmp_path).read_text())
    assert written == OVERRIDES
    for plugin, values in written.items():
        package, _, name = plugin.partition(":")
        schema = json.loads((SCHEMAS / package / f"{name}.json").read_text())
        assert set(values) <= set(schema["properties"]), f"{plugin}: unknown settings {set(values) - set(schema['properties'])}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_real_jupyterlab_serves_the_news_popup_off(tmp_path: Path) -> None:
    write_overrides(tmp_path)
    settings = tmp_path / "share" / "jupyter" / "lab" / "settings"
    port, token = _free_port(), secrets.token_hex(8)
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "config"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", f"--port={port}", "--ServerApp.ip=127.0.0.1",
         f"--IdentityProvider.token={token}", f"--LabApp.app_settings_dir={settings}",
         f"--LabApp.user_settings_dir={tmp_path / 'user'}", f"--ServerApp.root_dir={tmp_path}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    url = f"http://127.0.0.1:{port}/lab/api/settings/@jupyterlab/apputils-extension:notification?token={token}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(url, timeout=5) as reply:
                    served = json.load(reply)
                break
            except OSError:
                assert proc.poll() is None, "jupyter lab exited during start-up"
                assert time.monotonic() < deadline, "jupyter lab did not answer in 60 s"
                time.sleep(0.3)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert served["schema"]["properties"]["fetchNews"]["default"] == "false"
    assert served["settings"].get("fetchNews", "false") == "false"
