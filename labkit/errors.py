"""The lab's exceptions: each message says what went wrong and how to fix it."""


class LabError(Exception):
    """Base class for every error the lab raises on purpose."""


class RedisBinaryNotFound(LabError):
    """No Redis-protocol server binary could be found to start."""


class RedisStartError(LabError):
    """A server binary was found but the server did not come up."""


class RedisUnreachable(LabError):
    """``REDIS_URL`` names a server that does not answer."""

    def _render_traceback_(self) -> list[str]:
        # IPython shows this instead of a traceback: the message already says what to change.
        return [f"{type(self).__name__}: {self}"]


class CheckFailed(LabError):
    """Raised by a failing exercise check in strict mode (solution runs, CI)."""
