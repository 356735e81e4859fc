"""What a Lua script really did, read from the server's MONITOR feed.

A script's ``KEYS`` are what it declares; nothing stops it from calling
``redis.call('HSET', 'rq:job:' .. id, ...)`` on a key it built itself, or
``redis.call('TIME')``. The server's MONITOR feed shows every command a
script runs (as ``[db lua]`` lines right after the EVAL/EVALSHA/FCALL that
ran it: scripts are atomic, so nothing else lands in between), which lets the
explorer track, snapshot and reset those keys too, and say in a trace that a
script read the server's clock, which no client-side clock can pin.

The feed is opened only once a scenario sends a script, and read up to an
``ECHO`` marker after each script step, so it costs nothing for scenarios
without scripts. A server that refuses MONITOR (an ACL on a shared server)
leaves the explorer with the declared ``KEYS`` only, as :attr:`ScriptWatch.refused` says.
"""

from __future__ import annotations

import ast
import asyncio
import re
import uuid
from typing import Any, Optional, Sequence

import redis.asyncio as aredis
from redis.exceptions import ResponseError

Command = tuple

_SCRIPT_COMMANDS = frozenset({"EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "FCALL", "FCALL_RO"})
_LINE = re.compile(rb"^\S+ \[\d+ ([^\]]*)\] (.*)$", re.S)
_ARG = re.compile(rb'"((?:[^"\\]|\\.)*)"')


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def is_script(command: Command) -> bool:
    return _text(command[0]).upper() in _SCRIPT_COMMANDS


def reads_server_clock(commands: Sequence[Command]) -> bool:
    """Whether a script's commands include ``redis.call('TIME')``, which no client-side clock can pin."""
    return any(_text(c[0]).upper() == "TIME" for c in commands)


def _parse(line: bytes) -> Optional[tuple[bool, tuple[str, ...]]]:
    """(ran inside a script, the command's arguments) for one MONITOR line."""
    match = _LINE.match(line)
    if match is None:
        return None
    source, rest = match.groups()
    args = tuple(_text(ast.literal_eval('b"' + a.decode("latin-1") + '"')) for a in _ARG.findall(rest))
    return source == b"lua", args


def _sent(command: Command) -> tuple[str, ...]:
    return (_text(command[0]).upper(),) + tuple(_text(a) for a in command[1:])


class ScriptWatch:
    """One MONITOR connection for the length of an explore/replay/stress call."""

    def __init__(self, url: str, timeout: float) -> None:
        self._client = aredis.Redis.from_url(url)
        self._monitor: Any = None
        self._timeout = timeout
        self.refused = ""

    async def start(self) -> None:
        if self._monitor is None and not self.refused:
            monitor = self._client.monitor()
            try:
                await monitor.__aenter__()
            except ResponseError as exc:  # NOPERM: keys a script builds itself stay untracked
                self.refused = str(exc)
                return
            self._monitor = monitor

    @property
    def started(self) -> bool:
        return self._monitor is not None

    async def commands_of(self, admin: aredis.Redis, sent: Sequence[Command]) -> list[Command]:
        """The commands run inside the scripts among ``sent`` since the last call (their own, not KEYS)."""
        ours = {_sent(c) for c in sent if is_script(c)}
        marker = f"labkit-script-watch-{uuid.uuid4().hex}"
        await admin.echo(marker)
        lines: list[tuple[bool, tuple[str, ...]]] = []

        async def drain() -> None:
            while True:
                parsed = _parse(await self._monitor.connection.read_response())
                if parsed is None:
                    continue
                if not parsed[0] and parsed[1][:1] and parsed[1][0].upper() == "ECHO" and parsed[1][1:] == (marker,):
                    return
                lines.append(parsed)

        await asyncio.wait_for(drain(), self._timeout)
        found: list[Command] = []
        i = 0
        while i < len(lines):
            if not lines[i][0]:
                i += 1
                continue
            end = i
            while end < len(lines) and lines[end][0]:
                end += 1
            # The feed shows a script's EVAL/FCALL line first, then its commands (Redis 7 and Valkey);
            # the script is atomic, so the line right before the block is the one that ran it. The
            # line after belongs to someone else's command, perhaps another client's script.
            ran_it = lines[i - 1][1] if i > 0 and not lines[i - 1][0] else ()
            if ran_it and (ran_it[0].upper(),) + ran_it[1:] in ours:
                found += [args for _, args in lines[i:end] if args]
            i = end
        return found

    async def close(self) -> None:
        try:
            if self._monitor is not None:
                await self._monitor.__aexit__(None, None, None)
        finally:
            await self._client.aclose()
