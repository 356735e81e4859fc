"""Which keys a Redis command touches, read from the server's own ``COMMAND`` table.

The explorer tracks the keys its actors touch instead of scanning the
keyspace: a shared class server may hold a million keys, and a SCAN per step
walks all of them. The server says, for every command, where its keys sit
(first, last, step) and whether it writes or blocks; commands whose keys move
(scripts, XREADGROUP, ZUNIONSTORE...) are read by their ``numkeys`` or
``STREAMS`` argument here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import redis

Command = tuple


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


@dataclass(frozen=True)
class Spec:
    first: int
    last: int
    step: int
    writes: bool
    blocking: bool


#: movable-key commands: where their ``numkeys`` argument sits (keys follow it)
_NUMKEYS_AT = {"EVAL": 2, "EVALSHA": 2, "EVAL_RO": 2, "EVALSHA_RO": 2, "FCALL": 2, "FCALL_RO": 2,
               "ZUNION": 1, "ZINTER": 1, "ZDIFF": 1, "ZINTERCARD": 1, "SINTERCARD": 1, "LMPOP": 1,
               "ZMPOP": 1, "BLMPOP": 2, "BZMPOP": 2}
_DEST_THEN_NUMKEYS = frozenset({"ZUNIONSTORE", "ZINTERSTORE", "ZDIFFSTORE"})
_SCRIPTS = frozenset({"EVAL", "EVALSHA", "FCALL"})
#: commands redis-py sends as "NAME SUBCOMMAND" whose first argument is a key
_CONTAINERS_WITH_KEY = frozenset({"XGROUP", "XINFO", "OBJECT"})


class KeyTable:
    """Command name -> key positions and flags, loaded once per server with ``COMMAND``."""

    def __init__(self, specs: dict[str, Spec]) -> None:
        self.specs = specs

    @classmethod
    def load(cls, client: redis.Redis) -> "KeyTable":
        specs: dict[str, Spec] = {}
        for name, entry in client.command().items():  # redis-py parses the reply into a dict
            flags = {_text(f) for f in entry["flags"]}
            specs[_text(name).upper()] = Spec(int(entry["first_key_pos"]), int(entry["last_key_pos"]),
                                              int(entry["step_count"]), "write" in flags, "blocking" in flags)
        return cls(specs)

    def name(self, command: Command) -> str:
        return _text(command[0]).upper().split(" ")[0]

    def keys(self, command: Command) -> list[str]:
        """The keys ``command`` names, as text."""
        name = self.name(command)
        args = [_text(a) for a in command[1:]]
        if name in _NUMKEYS_AT:
            at = _NUMKEYS_AT[name] - 1
            try:
                n = int(args[at])
            except (IndexError, ValueError):
                return []
            return args[at + 1: at + 1 + n]
        if name in _DEST_THEN_NUMKEYS:
            try:
                return [args[0]] + args[2: 2 + int(args[1])]
            except (IndexError, ValueError):
                return args[:1]
        if name in ("XREAD", "XREADGROUP"):
            upper = [a.upper() for a in args]
            if "STREAMS" not in upper:
                return []
            rest = args[upper.index("STREAMS") + 1:]
            return rest[: len(rest) // 2]
        spec = self.specs.get(name)
        if name in _CONTAINERS_WITH_KEY and " " in _text(command[0]).strip():
            return args[:1]  # XGROUP CREATE <key> ...: the key follows the subcommand
        if spec is None or spec.first <= 0:
            return []
        last = len(command) - 1 + spec.last + 1 if spec.last < 0 else spec.last
        return [_text(command[i]) for i in range(spec.first, min(last, len(command) - 1) + 1, max(spec.step, 1))]

    def writes(self, command: Command) -> bool:
        name = self.name(command)
        spec = self.specs.get(name)
        return name in _SCRIPTS or name.startswith("EVAL") or name == "XGROUP" or bool(spec and spec.writes)

    def blocking(self, command: Command) -> bool:
        """A command that may wait on the server for another client (BLMOVE, XREADGROUP BLOCK...)."""
        name = self.name(command)
        if name in ("XREAD", "XREADGROUP"):
            return "BLOCK" in (_text(a).upper() for a in command[1:])
        spec = self.specs.get(name)
        return bool(spec and spec.blocking)

    def touched(self, commands: Sequence[Command]) -> tuple[list[str], list[str]]:
        """(every key named, the keys written) for one step's commands."""
        seen: list[str] = []
        written: list[str] = []
        for command in commands:
            keys = self.keys(command)
            seen += keys
            if self.writes(command):
                written += keys
        return seen, written
