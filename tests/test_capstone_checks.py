"""Capstone checks: the broken originals and plausible wrong fixes are rejected; right answers in several styles pass."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
import textwrap
from pathlib import Path

import pytest

from labkit import llm
from labkit.exercises import framework as checks
from labkit.exercises.capstone import RULE_IDEAS
from labkit.lessons.capstone_service import BROKEN_EXECUTOR, PIECES, assemble, review_broken
from labkit.tasks.reconcilers import reconcile_epoch, reconcile_lua, reconcile_recheck
from test_rule4_checks import thread_with_event
from test_rule5_checks import graceful_wait
from worker_procs import live_worker_children


async def handle_offloaded(system_msg, history, conf):
    return await asyncio.to_thread(llm.chat, system_msg, history, conf)


def record_audit(log, event):
    log.append(event)


# a right answer for every piece
FIXED = {"handle": handle_offloaded, "record_audit": record_audit, "reconcile": reconcile_lua,
         "start_heartbeat": thread_with_event, "run_worker": graceful_wait}


@pytest.fixture(autouse=True)
def _plain_mode(monkeypatch):
    monkeypatch.delenv(checks.MODE_ENV, raising=False)
    yield
    assert live_worker_children() == []


@pytest.fixture(scope="module")
def broken(tmp_path_factory):
    """The broken service as an importable module, so its functions have source."""
    path = tmp_path_factory.mktemp("capstone") / "taskexec_broken.py"
    path.write_text(BROKEN_EXECUTOR)
    spec = importlib.util.spec_from_file_location("taskexec_broken", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["taskexec_broken"] = module
    spec.loader.exec_module(module)
    return module


def _module(tmp_path: Path, name: str, source: str):
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


async def _check(exercise: str, answer) -> checks.CheckResult:
    return await checks.check(exercise, answer)


def test_reviewer_flags_every_rule_on_the_broken_service() -> None:
    assert set(review_broken().rules()) == {"R1", "R2", "R3", "R4", "R5"}


@pytest.mark.parametrize("name", list(PIECES))
async def test_broken_originals_are_rejected_with_the_rule(broken, name: str) -> None:
    checks.forget_hints()
    result = await _check(PIECES[name].exercise, getattr(broken, name))
    assert not result.passed
    assert "The reviewer still finds R" in result.message
    # the idea first, the reviewer's fix (the code) on a second ask
    rule = result.message.split("still finds ")[1][:2]
    assert RULE_IDEAS[rule] in result.message and "Fix:" not in result.message, result.message
    assert not result.code and result.code_kept_back and checks.ASK_AGAIN in result._repr_html_()
    again = await _check(PIECES[name].exercise, getattr(broken, name))
    assert not again.passed and again.code and again.code not in again.message and not again.code_kept_back


async def test_find_accepts_the_map_and_rejects_a_wrong_one() -> None:
    right = {"R1": ["handle", "start_heartbeat"], "R2": "record_audit", "R3": ["reconcile"],
             "R4": "start_heartbeat", "R5": ["run_worker", "start_heartbeat"]}
    assert (await _check("06.find", right)).passed
    wrong = {**right, "R4": ["handle"]}
    result = await _check("06.find", wrong)
    assert not result.passed and "R4 is not broken in handle" in result.message
    short = {**right, "R5": ["run_worker"]}
    assert "you named 1" in (await _check("06.find", short)).message


async def test_handle_styles(tmp_path) -> None:
    m = _module(tmp_path, "cap_handle", """
        import asyncio
        from labkit import llm

        async def offloaded(system_msg, history, conf):
            return await asyncio.to_thread(llm.chat, system_msg, history, conf)

        async def async_client(system_msg, history, conf):
            return await llm.achat(system_msg, history, conf)

        async def premature(system_msg, history, conf):
            return await asyncio.to_thread(llm.chat(system_msg, history, conf))
    """)
    assert (await _check("06.handle", m.offloaded)).passed
    assert (await _check("06.handle", m.async_client)).passed
    result = await _check("06.handle", m.premature)
    assert not result.passed and "R1" in result.message


async def test_audit(tmp_path) -> None:
    m = _module(tmp_path, "cap_audit", """
        def record_audit(log, event):
            log.append(event)

        def record_audit_upper(log, event):
            log.append(event.upper())
    """)
    assert (await _check("06.audit", m.record_audit)).passed
    assert "should be ['login'" in (await _check("06.audit", m.record_audit_upper)).message


@pytest.mark.parametrize("answer", [reconcile_lua, reconcile_epoch])
async def test_reconcile_styles_pass(answer) -> None:
    assert (await _check("06.reconcile", answer)).passed


async def test_reconcile_recheck_is_rejected() -> None:
    result = await _check("06.reconcile", reconcile_recheck)
    assert not result.passed and ("R3" in result.message or "DONE" in result.message)


# never_stops beats on after the check; the check's beat then raises in its thread, by design
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
async def test_heartbeat_styles(tmp_path) -> None:
    m = _module(tmp_path, "cap_hb", """
        import threading

        def with_timer(beat, interval_s):
            state = {"on": True, "timer": None}

            def tick():
                if state["on"]:
                    beat()
                    state["timer"] = threading.Timer(interval_s, tick)
                    state["timer"].start()

            tick()

            def stop_it():
                state["on"] = False
                if state["timer"] is not None:
                    state["timer"].cancel()

            return stop_it

        def never_stops(beat, interval_s):
            stop = threading.Event()

            def run():
                while not stop.wait(interval_s):
                    beat()

            threading.Thread(target=run, daemon=True).start()
            return lambda: None

        def on_the_loop(beat, interval_s):
            import asyncio
            stop = asyncio.Event()

            async def run():
                while not stop.is_set():
                    beat()
                    try:
                        await asyncio.wait_for(stop.wait(), interval_s)
                    except asyncio.TimeoutError:
                        pass

            asyncio.get_running_loop().create_task(run())
            return stop.set
    """)
    assert (await _check("06.heartbeat", thread_with_event)).passed  # rule 4's answer fits here too
    assert (await _check("06.heartbeat", m.with_timer)).passed
    assert "after its stop function" in (await _check("06.heartbeat", m.never_stops)).message
    checks.forget_hints()
    on_the_loop = await _check("06.heartbeat", m.on_the_loop)
    assert "runs on that loop" in on_the_loop.message and "stop.wait(" not in on_the_loop.message
    assert "while not stop.wait(interval_s): beat()" in (await _check("06.heartbeat", m.on_the_loop)).code


async def test_shutdown_passes_and_a_stopless_fix_fails(tmp_path) -> None:
    m = _module(tmp_path, "cap_worker", """
        import asyncio
        import signal

        async def handlers_only_sigterm(worker):
            loop = asyncio.get_running_loop()
            loop.add_signal_handler(signal.SIGTERM, worker.stop.set)
            while not worker.stop.is_set():
                claim = await worker.claim()
                if claim is None:
                    await asyncio.sleep(0.05)
                    continue
                await worker.execute(claim)
    """)
    assert (await _check("06.shutdown", graceful_wait)).passed  # rule 5's answer fits here too
    assert not (await _check("06.shutdown", m.handlers_only_sigterm)).passed


async def test_clean_needs_every_piece(broken) -> None:
    result = await _check("06.clean", {"handle": broken.handle})
    assert not result.passed and "Missing pieces" in result.message
    result = await _check("06.clean", {name: getattr(broken, name) for name in PIECES})
    assert not result.passed and "finding" in result.message


def test_assemble_keeps_the_rest_of_the_service() -> None:
    text = assemble({"record_audit": "def record_audit(log, event):\n    log.append(event)\n"})
    assert "async def record_audit" not in text and "def on_task_done" in text and "async def main" in text




async def test_the_heartbeat_check_opens_with_its_own_rule(broken) -> None:
    result = await _check("06.heartbeat", broken.start_heartbeat)
    assert not result.passed and result.message.startswith("The reviewer still finds R4 in your start_heartbeat")


async def test_clean_names_what_was_silenced_instead_of_fixed(tmp_path) -> None:
    """A blocking call silenced for the review is a changed problem: its piece's own check never passed."""
    m = _module(tmp_path, "cap_silenced", """
        from labkit import llm

        async def handle(system_msg, history, conf):
            return llm.chat(system_msg, history, conf)  # labkit: ignore[R1]
    """)
    pieces = {**FIXED, "handle": m.handle}
    result = await _check("06.clean", pieces)
    assert not result.passed and "not yet: handle (06.handle)" in result.message, result.message
    assert "Silenced rather than fixed: R1 at line" in result.message


async def test_find_accepts_the_nested_function_the_review_names() -> None:
    """The review says `while True` in `beating`: naming that nested function means start_heartbeat."""
    named = {"R1": ["handle", "beating"], "R2": "record_audit", "R3": "reconcile",
             "R4": "start_heartbeat.<locals>.beating", "R5": ["run_worker", "beating()"]}
    result = await _check("06.find", named)
    assert result.passed, result.message


async def test_find_rejects_naming_every_function_for_every_rule() -> None:
    everything = ["handle", "record_audit", "reconcile", "start_heartbeat", "run_worker"]
    result = await _check("06.find", {rule: everything for rule in ("R1", "R2", "R3", "R4", "R5")})
    assert not result.passed and "R1 is not broken in" in result.message, result.message


# -- "changed the problem instead of solving it": each capstone piece, rejected with what it bypassed

async def test_changed_problem_answers_are_rejected(tmp_path) -> None:
    m = _module(tmp_path, "cap_bypass", """
        import asyncio
        from labkit import llm

        async def made_up_reply(system_msg, history, conf):
            await asyncio.sleep(0.3)
            return llm.reply_for(system_msg, history, conf)

        def whole_log(log, event):
            log[:] = ["login", "save", "logout"]

        async def reconcile_nothing(store):
            return None

        async def never_works(worker):
            import signal
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, worker.stop.set)
            await worker.stop.wait()
    """)
    for exercise, answer, hint in (
        ("06.handle", m.made_up_reply, "the model never answered the request"),
        ("06.audit", m.whole_log, "append the event it is given"),
        ("06.reconcile", m.reconcile_nothing, "your reconciler left it RUNNING"),
        ("06.shutdown", m.never_works, "never claimed a task"),
    ):
        result = await _check(exercise, answer)
        assert not result.passed and hint in result.message, (exercise, result.message)


NAIVE_RECONCILE_VIA_ADD_FINISH = '''
async def reconcile(store):
    """Check-then-act, with the FAIL written through the store's pipeline helper."""
    for doc in await store.orphaned_docs():
        if not await store.incomplete_tasks(doc):
            async with store.client.pipeline(transaction=True) as pipe:
                store.add_finish(pipe, doc, "FAIL")
                await pipe.execute()
'''

async def test_clean_sees_fail_written_through_add_finish() -> None:
    """The incident's naive reconciler, writing FAIL with store.add_finish, still breaks R3."""
    result = await _check("06.clean", {**FIXED, "reconcile": NAIVE_RECONCILE_VIA_ADD_FINISH})
    assert not result.passed and "R3" in result.message, result.message


async def test_clean_passes_once_every_piece_passed_its_own_check() -> None:
    """The control: the same pieces, each first through its own check, pass the whole review."""
    for name, answer in FIXED.items():
        result = await _check(PIECES[name].exercise, answer)
        assert result.passed, (name, result.message)
    result = await _check("06.clean", FIXED)
    assert result.passed and "passes all five rules" in result.message, result.message


async def test_clean_rejects_pieces_that_read_clean_but_skip_their_work(tmp_path) -> None:
    """Changed problems the review cannot see: a made-up reply, a reconciler that does nothing."""
    m = _module(tmp_path, "cap_clean_bypass", """
        from labkit import llm

        async def handle(system_msg, history, conf):
            return llm.reply_for(system_msg, history, conf)

        async def reconcile(store):
            return None
    """)
    result = await _check("06.clean", {**FIXED, "handle": m.handle, "reconcile": m.reconcile})
    assert not result.passed and "the review only reads code" in result.message, result.message
    assert "handle (06.handle)" in result.message and "reconcile (06.reconcile)" in result.message
