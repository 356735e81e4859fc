"""Async Recovery Lab toolkit: every mechanism the notebooks demonstrate and check.

Notebooks hold the story; this package holds the code, so pytest can test all of it.
This module is the map of what learners use: notebooks import from here (or from one
lesson module). ARCHITECTURE.md shows the layers behind these names.

Every name loads on first use: ``import labkit`` itself imports nothing, so a worker
process (``labkit.tasks.worker``) starts in a fraction of a second instead of paying
for the checks, the explorer and the reviewer, and ``import labkit`` pulls in neither
matplotlib nor ipywidgets.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

# public name -> the module that defines it (``name@attr`` when the module calls it something else)
_PUBLIC: dict[str, str] = {
    **dict.fromkeys(["CheckFailed", "LabError", "RedisBinaryNotFound", "RedisStartError", "RedisUnreachable"],
                    "labkit.errors"),
    **dict.fromkeys(["CheckResult", "NotYet", "check", "exercise"], "labkit.exercises.framework"),
    "Explorer": "labkit.instruments.explorer",
    "LoopMonitor": "labkit.instruments.loop_monitor",
    "MonitorResult": "labkit.instruments.loop_monitor",
    "step": "labkit.instruments.stepping",
    "boundaries": "labkit.lessons.boundaries",
    "race_demo": "labkit.lessons.race_demo",
    "rq_case": "labkit.lessons.rq_case",
    "compare_heartbeats": "labkit.lessons.heartbeat_demo@compare_modes",
    "run_heartbeat_demo": "labkit.lessons.heartbeat_demo",
    "IngestService": "labkit.lessons.mystery_service",
    "doc_state": "labkit.lessons.race_demo",
    "incident": "labkit.lessons.race_demo",
    "compare_shutdowns": "labkit.lessons.shutdown_demo",
    "run_shutdown_demo": "labkit.lessons.shutdown_demo",
    "compare_stalls": "labkit.lessons.stall_demo@compare",
    "run_stall": "labkit.lessons.stall_demo",
    "llm": "labkit.model.llm",
    "shutdown_shared_pool": "labkit.model.cpu_pool",
    **dict.fromkeys(["ModelEndpoint", "ask", "model_endpoint"], "labkit.model.endpoint"),
    **dict.fromkeys(["openai_chat", "openai_achat"], "labkit.model.sdk_model"),
    **dict.fromkeys(["RedisTarget", "redis_target"], "labkit.redis.target"),
    **dict.fromkeys(["Finding", "Review", "ReviewError", "review_paths", "review_source"], "labkit.review"),
    "completion": "labkit.tasks.completion",
    "reconcilers": "labkit.tasks.reconcilers",
    **dict.fromkeys(["ChaosResult", "fault_schedule", "run_chaos"], "labkit.tasks.chaos"),
    "recovery_loop": "labkit.tasks.recovery",
    **dict.fromkeys(["DONE", "FAIL", "QUEUED", "RUNNING", "Store", "doc_of"], "labkit.tasks.store"),
    "run_doctor": "labkit.cli.doctor",
    # widgets: they import ipywidgets and matplotlib
    "stall_panel": "labkit.lessons.stall_widget",
    "be_the_scheduler": "labkit.lessons.scheduler_widget",
    "heartbeat_panel": "labkit.lessons.heartbeat_widget",
    "chaos_panel": "labkit.lessons.chaos_widget",
    "progress_bar": "labkit.lessons.chaos_widget",
}


def __getattr__(name: str) -> Any:
    where = _PUBLIC.get(name)
    if where is None:
        raise AttributeError(f"module 'labkit' has no attribute {name!r}")
    module_name, _, attr = where.partition("@")
    module = import_module(module_name)
    value = module if module_name.rpartition(".")[2] == name and not attr else getattr(module, attr or name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_PUBLIC})


__all__ = sorted(_PUBLIC)
