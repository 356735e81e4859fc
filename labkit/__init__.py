"""Async Recovery Lab toolkit: every mechanism the notebooks demonstrate and check.

Notebooks hold the story; this package holds the code, so pytest can test all of it.
"""

from .chaos import ChaosResult, fault_schedule, run_chaos
from .checks import CheckResult, NotYet, check, exercise
from .doctor import run_doctor
from .errors import CheckFailed, LabError, RedisBinaryNotFound, RedisStartError, RedisUnreachable
from .explorer import Explorer
from .heartbeat_demo import compare_modes as compare_heartbeats
from .heartbeat_demo import run_heartbeat_demo
from .lab_redis import RedisTarget, redis_target
from .loop_monitor import LoopMonitor, MonitorResult
from .race_demo import incident
from .recovery import recovery_loop
from .review import Finding, Review, ReviewError, review_paths, review_source
from .shutdown_demo import compare_shutdowns, run_shutdown_demo
from .stall_demo import compare as compare_stalls
from .stall_demo import run_stall
from .stepping import step
from .store import Store

__all__ = [
    "ChaosResult",
    "CheckFailed",
    "CheckResult",
    "Explorer",
    "Finding",
    "LabError",
    "LoopMonitor",
    "MonitorResult",
    "NotYet",
    "RedisBinaryNotFound",
    "RedisStartError",
    "RedisTarget",
    "RedisUnreachable",
    "Review",
    "ReviewError",
    "Store",
    "check",
    "compare_heartbeats",
    "compare_shutdowns",
    "compare_stalls",
    "exercise",
    "fault_schedule",
    "incident",
    "recovery_loop",
    "redis_target",
    "review_paths",
    "review_source",
    "run_chaos",
    "run_doctor",
    "run_heartbeat_demo",
    "run_shutdown_demo",
    "run_stall",
    "step",
]
