"""Async Recovery Lab toolkit: every mechanism the notebooks demonstrate and check.

Notebooks hold the story; this package holds the code, so pytest can test all of it.
"""

from .checks import CheckResult, NotYet, check, exercise
from .doctor import run_doctor
from .errors import CheckFailed, LabError, RedisBinaryNotFound, RedisStartError, RedisUnreachable
from .lab_redis import RedisTarget, redis_target

__all__ = [
    "CheckFailed",
    "CheckResult",
    "LabError",
    "NotYet",
    "RedisBinaryNotFound",
    "RedisStartError",
    "RedisTarget",
    "RedisUnreachable",
    "check",
    "exercise",
    "redis_target",
    "run_doctor",
]
