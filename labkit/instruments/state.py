"""Redis state as the explorer sees it: only the keys a scenario touches, read and reset in one round trip.

No SCAN: on a shared server holding a million keys a walk per step costs a
thousand times the run. The keys come from :class:`labkit.instruments.keyspec.KeyTable`.
"""

from __future__ import annotations

import asyncio
from typing import Any, Optional, Sequence

import redis
import redis.asyncio as aredis

from ..redis.target import RedisTarget
from .keyspec import KeyTable
from .stepping import Command

# --- states: only the keys the scenario touches, each one server round trip ------------------

_SNAPSHOT = """
-- snapshot
local out = {}
for _, k in ipairs(KEYS) do
  local t = redis.call('TYPE', k)['ok']
  local v
  if t == 'none' then v = nil
  elseif t == 'string' then v = redis.call('GET', k)
  elseif t == 'hash' then v = redis.call('HGETALL', k)
  elseif t == 'set' then v = redis.call('SMEMBERS', k)
  elseif t == 'list' then v = redis.call('LRANGE', k, 0, -1)
  elseif t == 'zset' then v = redis.call('ZRANGE', k, 0, -1, 'WITHSCORES')
  elseif t == 'stream' then
    v = {}
    for _, e in ipairs(redis.call('XRANGE', k, '-', '+')) do table.insert(v, e[1]) end
  else v = {} end
  if v ~= nil then table.insert(out, {k, t, v}) end
end
return out
"""

_RESET = """
-- reset
local n = 0
for _, k in ipairs(redis.call('SMEMBERS', KEYS[1])) do n = n + redis.call('DEL', k) end
for i = 2, #KEYS do n = n + redis.call('DEL', KEYS[i]) end
if #KEYS > 1 then redis.call('SADD', KEYS[1], unpack(KEYS, 2)) end
return n
"""


def _str(value: Any) -> Any:
    if isinstance(value, bytes):
        try:
            return value.decode()
        except UnicodeDecodeError:
            return value
    return value


class Snapshot(dict):
    """Redis state after a step, keyed by the keys the code writes.

    ``state["doc:d1"]`` (and ``get``, ``in``) also finds ``<prefix>doc:d1``, the
    key under the explorer target's prefix; :meth:`short` is how traces print a key.
    """

    prefix: str = ""

    def __init__(self, items: Any = (), prefix: str = "") -> None:
        super().__init__(items)
        self.prefix = prefix

    def _full(self, key: Any) -> Any:
        if isinstance(key, str) and self.prefix and not dict.__contains__(self, key):
            return self.prefix + key
        return key

    def __getitem__(self, key: Any) -> Any:
        return dict.__getitem__(self, self._full(key))

    def __contains__(self, key: Any) -> bool:
        return dict.__contains__(self, self._full(key))

    def get(self, key: Any, default: Any = None) -> Any:
        return dict.get(self, self._full(key), default)

    def short(self, key: str) -> str:
        return key[len(self.prefix):] if self.prefix and key.startswith(self.prefix) else key


def _decode_snapshot(raw: Sequence[Any], prefix: str) -> Snapshot:
    state: dict[Any, Any] = {}
    for key, kind, value in raw:
        name, kind = _str(key), _str(kind)
        value = [_str(v) for v in value] if isinstance(value, list) else _str(value)
        if kind == "hash":
            state[name] = dict(zip(value[::2], value[1::2]))
        elif kind == "set":
            state[name] = frozenset(value)
        elif kind in ("list", "stream"):
            state[name] = list(value)
        elif kind == "zset":
            state[name] = [(m, float(s)) for m, s in zip(value[::2], value[1::2])]
        elif kind == "string":
            state[name] = value
        else:
            state[name] = f"<{kind}>"
    return Snapshot(sorted(state.items(), key=lambda kv: str(kv[0])), prefix)


_TABLES: dict[str, KeyTable] = {}


class _Keys:
    """The keys one explorer's actors, setup and scripts have touched, read or written: each run starts without them.

    A key the actors only read is reset too, so a run never depends on what an
    earlier cell (or another scenario) left there; ``setup`` writes what they should find.
    """

    def __init__(self, target: RedisTarget) -> None:
        self.target = target
        self.registry = target.key("__explorer_keys")
        self.seen: dict[str, None] = {}
        self.table: Optional[KeyTable] = None

    async def load(self) -> KeyTable:
        if self.table is None:
            if self.target.url not in _TABLES:
                def fetch() -> KeyTable:
                    with redis.Redis.from_url(self.target.url) as client:
                        return KeyTable.load(client)
                _TABLES[self.target.url] = await asyncio.to_thread(fetch)
            self.table = _TABLES[self.target.url]
        return self.table

    def track(self, commands: Sequence[Command], *, within_prefix: bool = False) -> None:
        """Remember the keys ``commands`` touch; ``within_prefix`` drops keys outside the target's namespace.

        Keys read off the MONITOR feed get ``within_prefix``: on a shared server, a key
        outside this learner's prefix is someone else's, and must never be reset.
        """
        assert self.table is not None
        seen, _ = self.table.touched(commands)
        prefix = self.target.prefix if within_prefix else ""
        for k in seen:
            if k.startswith(prefix):
                self.seen.setdefault(k)

    async def reset(self, admin: aredis.Redis) -> int:
        """Delete every key touched so far (and the ones earlier explorers on this target recorded)."""
        return int(await admin.eval(_RESET, 1 + len(self.seen), self.registry, *self.seen))

    async def snapshot(self, admin: aredis.Redis) -> Snapshot:
        if not self.seen:
            return Snapshot((), self.target.prefix)
        raw = await admin.eval(_SNAPSHOT, len(self.seen), *self.seen)
        return _decode_snapshot(raw, self.target.prefix)

    def snapshot_blocking(self, admin: redis.Redis) -> Snapshot:
        if not self.seen:
            return Snapshot((), self.target.prefix)
        return _decode_snapshot(admin.eval(_SNAPSHOT, len(self.seen), *list(self.seen)), self.target.prefix)

