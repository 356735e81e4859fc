"""Fixtures shared by the suite: a real Redis server the suite starts itself."""

from __future__ import annotations

import uuid

import pytest

from labkit.redis.target import RedisTarget, redis_target

REDIS_FIXTURES = {"redis_base", "lab"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Tag every test that talks to Redis, so CI can re-run them on another server.
    for item in items:
        if REDIS_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.redis)


@pytest.fixture(scope="session")
def redis_base() -> RedisTarget:
    """The suite's server: REDIS_URL if set, else a private embedded one."""
    return redis_target(prefix=f"arl-test:{uuid.uuid4().hex[:8]}:")


@pytest.fixture
def lab(redis_base: RedisTarget):
    """A fresh key prefix per test on the real server; its keys are deleted after."""
    target = redis_base.child(uuid.uuid4().hex[:8])
    yield target
    target.cleanup()
