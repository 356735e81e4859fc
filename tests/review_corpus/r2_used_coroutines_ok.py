# expect: none
"""R2 negative: sync code that hands its coroutine on: ``__await__``, a yield to a runner, stored on self."""


class Pipeline:
    async def _async_self(self) -> "Pipeline":
        return self

    def __await__(self):
        return self._async_self().__await__()


class Loop:
    def __init__(self) -> None:
        self._manager = self._thread_manager()

    async def _thread_manager(self) -> None:
        return None


class Handler:
    async def get_user(self) -> str:
        return "me"

    def get(self):  # a generator-based coroutine: its runner awaits what it yields
        user = yield self.get_user()
        return user
