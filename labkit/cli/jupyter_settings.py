"""``python -m labkit jupyter-settings``: JupyterLab defaults for the lab, written once per environment.

JupyterLab reads ``<prefix>/share/jupyter/lab/settings/overrides.d/*.json`` as defaults
that a learner can still change. The lab turns off the "Would you like to get notified
about official Jupyter news?" pop-up, which otherwise covers the widgets on first launch
(and makes a request to the internet). ``make lab``, Binder's postBuild and the conda
instructions all run this one command.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

OVERRIDES: dict[str, dict[str, object]] = {
    "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False},
}
FILENAME = "labkit.json"


def settings_dir(prefix: str | Path = sys.prefix) -> Path:
    return Path(prefix) / "share" / "jupyter" / "lab" / "settings" / "overrides.d"


def write_overrides(prefix: str | Path = sys.prefix) -> Path:
    """Write the lab's overrides into the environment at ``prefix``; returns the file written."""
    target = settings_dir(prefix) / FILENAME
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(OVERRIDES, indent=2) + "\n", encoding="utf-8")
    return target
