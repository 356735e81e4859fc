"""Async Recovery Lab toolkit: every mechanism the notebooks demonstrate and check.

Notebooks hold the story; this package holds the code, so pytest can test all of it.
This module is the map of what learners use: notebooks import from here (or from one
lesson module). Widgets load lazily, so ``import labkit`` pulls in neither matplotlib
nor ipywidgets. ARCHITECTURE.md shows the layers behind these names.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from .errors import CheckFailed, LabError, RedisBinaryNotFound, RedisStartError, RedisUnreachable
from .exercises.framework import CheckResult, NotYet, check, exercise
from .instruments.explorer import Explorer
from .instruments.loop_monitor import LoopMonitor, MonitorResult
from .instruments.stepping import step
from .lessons import boundaries, race_demo, rq_case
from .lessons.heartbeat_demo import compare_modes as compare_heartbeats
from .lessons.heartbeat_demo import run_heartbeat_demo
from .lessons.mystery_service import IngestService
from .lessons.race_demo import doc_state, incident
from .lessons.shutdown_demo import compare_shutdowns, run_shutdown_demo
from .lessons.stall_demo import compare as compare_stalls
from .lessons.stall_demo import run_stall
from .model import llm
from .model.cpu_pool import shutdown_shared_pool
from .model.endpoint import ModelEndpoint, ask, model_endpoint
from .redis.target import RedisTarget, redis_target
from .review import Finding, Review, ReviewError, review_paths, review_source
from .tasks import completion, reconcilers
from .tasks.chaos import ChaosResult, fault_schedule, run_chaos
from .tasks.recovery import recovery_loop
from .tasks.store import DONE, FAIL, QUEUED, RUNNING, Store, doc_of
from .cli.doctor import run_doctor

# Widgets: loaded on first use (they import ipywidgets and matplotlib).
_WIDGETS = {
    "stall_panel": "labkit.lessons.stall_widget",
    "be_the_scheduler": "labkit.lessons.scheduler_widget",
    "heartbeat_panel": "labkit.lessons.heartbeat_widget",
    "chaos_panel": "labkit.lessons.chaos_widget",
    "progress_bar": "labkit.lessons.chaos_widget",
}

# The plain-HTTP model calls: loaded on first use (they import httpx).
_HTTP = {"http_chat": "labkit.model.http_model", "http_achat": "labkit.model.http_model"}


def __getattr__(name: str) -> Any:
    if name in _WIDGETS:
        return getattr(import_module(_WIDGETS[name]), name)
    if name in _HTTP:
        return getattr(import_module(_HTTP[name]), name)
    raise AttributeError(f"module 'labkit' has no attribute {name!r}")


__all__ = [
    "DONE", "FAIL", "QUEUED", "RUNNING",
    "ChaosResult", "CheckFailed", "CheckResult", "Explorer", "Finding", "IngestService", "LabError",
    "LoopMonitor", "MonitorResult", "NotYet", "RedisBinaryNotFound", "RedisStartError", "RedisTarget",
    "ModelEndpoint", "RedisUnreachable", "Review", "ReviewError", "Store",
    "ask", "boundaries", "check", "compare_heartbeats", "compare_shutdowns", "compare_stalls", "completion",
    "doc_of", "doc_state", "exercise", "fault_schedule", "incident", "llm", "model_endpoint", "race_demo", "reconcilers", "rq_case",
    "recovery_loop", "redis_target", "review_paths", "review_source", "run_chaos", "run_doctor",
    "run_heartbeat_demo", "run_shutdown_demo", "run_stall", "shutdown_shared_pool", "step",
    *_WIDGETS, *_HTTP,
]
