"""The five-rule reviewer: exact findings on the labelled corpus, CLI, JSON, suppression, bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from labkit.cli.main import main as cli
from labkit.review import RULES, Review, ReviewConfig, ReviewError, review_paths, review_source
from labkit.review.corpus import entries, expected_findings, findings_by_file, known_limits, labelled_files, score

CORPUS = Path(__file__).parent / "review_corpus"
ENTRIES = entries(CORPUS)
SNIPPETS = [path for entry in ENTRIES for path in labelled_files(entry)]
ROOT = Path(__file__).parent.parent


@pytest.mark.parametrize("entry", ENTRIES, ids=[p.stem for p in ENTRIES])
def test_corpus_entry_gets_exactly_its_labelled_findings(entry: Path) -> None:
    found = findings_by_file(entry)
    for path in labelled_files(entry):
        missed, extra = known_limits(path)
        wanted = (expected_findings(path) - missed) | extra
        assert found[path.resolve()] == wanted, path.name


def test_corpus_has_multi_file_entries_both_ways() -> None:
    folders = [entry for entry in ENTRIES if entry.is_dir()]
    violating = [f for f in folders if any(expected_findings(p) for p in labelled_files(f))]
    assert len(folders) >= 4 and len(violating) >= 2 and len(folders) - len(violating) >= 2


def test_corpus_covers_every_rule_both_ways() -> None:
    for rule in RULES:
        prefix = rule.lower() + "_"
        positive = [p for p in SNIPPETS if p.name.startswith(prefix) and any(r == rule for r, _ in expected_findings(p))]
        negative = [p for p in SNIPPETS if p.name.startswith(prefix) and not expected_findings(p)]
        assert len(positive) >= 5 and len(negative) >= 5, f"{rule}: {len(positive)} positive, {len(negative)} negative"


def test_score_reads_the_corpus() -> None:
    result = score(CORPUS)
    assert result.files == len(SNIPPETS)
    assert set(result.mismatches) == {str(p.relative_to(CORPUS)) for p in SNIPPETS if any(known_limits(p))}


def test_findings_say_what_is_wrong_and_the_fix() -> None:
    review = review_source("import time\nasync def f():\n    time.sleep(1)\n", "snippet.py")
    [finding] = review
    assert (finding.rule, finding.path, finding.line) == ("R1", "snippet.py", 3)
    assert "time.sleep" in finding.message and "asyncio.sleep" in finding.fix
    assert "snippet.py:3:5: R1" in review.text()
    html = review._repr_html_()
    assert "<table" in html and "R1" in html and "What is wrong" in html
    assert "No findings" in review_source("x = 1\n")._repr_html_()


def test_block_names_are_configurable() -> None:
    code = "async def f(model):\n    return model.generate('hi')\n"
    assert not review_source(code)
    assert review_source(code, block_names=["generate"]).rules() == ["R1"]
    assert review_source(code, block_names=["model.generate"]).rules() == ["R1"]
    assert not review_source("async def f(llm):\n    return llm.chat('x')\n", block_names=[])
    with pytest.raises(ReviewError, match="not a Python name"):
        ReviewConfig(block_names=("not a name",))
    with pytest.raises(ReviewError, match="unknown rule"):
        review_source("x = 1\n", rules=["R9"])


def test_rule_selection() -> None:
    code = "import time\nasync def f():\n    time.sleep(1)\nasync def g():\n    pass\ndef h():\n    g()\n"
    assert sorted(review_source(code).rules()) == ["R1", "R2"]
    assert review_source(code, rules=["R2"]).rules() == ["R2"]


@pytest.mark.parametrize(
    "comment, kept",
    [
        ("# labkit: ignore[R1]", []),
        ("# labkit: ignore", []),
        ("# labkit: ignore[R1, R4]", []),
        ("# labkit: ignore[R3]", ["R1"]),
        ("# an ordinary comment", ["R1"]),
    ],
)
def test_suppression_comments(comment: str, kept: list[str]) -> None:
    code = f"import time\nasync def f():\n    time.sleep(1)  {comment}\n"
    assert review_source(code).rules() == kept


def test_suppression_on_the_line_above_and_file_wide() -> None:
    above = "import time\nasync def f():\n    # labkit: ignore[R1]\n    time.sleep(1)\n    time.sleep(2)\n"
    assert [f.line for f in review_source(above)] == [5]
    whole = "# labkit: ignore-file[R1]\nimport time\nasync def f():\n    time.sleep(1)\n"
    assert not review_source(whole)
    in_string = 'import time\nasync def f():\n    time.sleep(1); x = "# labkit: ignore[R1]"\n'
    assert review_source(in_string).rules() == ["R1"]


def test_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "broken.py"
    bad.write_text("def ok():\n    pass\n\ndef broken(:\n")
    [skipped] = review_paths([bad]).skipped
    assert skipped.path.endswith("broken.py") and skipped.why.startswith("line 4: syntax error")
    with pytest.raises(ReviewError, match=r"<cell>: cannot review, line 1"):
        review_source("async def (", "<cell>")


def test_bad_paths_and_input(tmp_path: Path) -> None:
    with pytest.raises(ReviewError, match="no such file or folder"):
        review_paths([tmp_path / "missing.py"])
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(ReviewError, match="not a Python file"):
        review_paths([text])
    with pytest.raises(ReviewError, match="no paths"):
        review_paths([])
    with pytest.raises(ReviewError, match="expected Python source as a str"):
        review_source(b"x = 1")  # type: ignore[arg-type]


def test_folders_and_cross_file_callers(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    (pkg / "__pycache__").mkdir(parents=True)
    (pkg / "__pycache__" / "junk.py").write_text("this is not python(")
    (pkg / "store.py").write_text("async def save(doc):\n    return doc\n")
    (pkg / "app.py").write_text("from pkg.store import save\n\ndef on_click(doc):\n    save(doc)\n")
    review = review_paths([pkg])
    assert len(review.files) == 2
    [finding] = review
    assert finding.rule == "R2" and finding.path.endswith("store.py") and "app.py:4" in finding.message


def test_notebooks_are_reviewed_cell_by_cell(tmp_path: Path) -> None:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# title"),
        nbformat.v4.new_code_cell("%load_ext labkit.review\nimport time"),
        nbformat.v4.new_code_cell("%%review\nthis is not python"),
        nbformat.v4.new_code_cell("async def f():\n    time.sleep(1)\nawait f()"),
    ]
    path = tmp_path / "lesson.ipynb"
    nbformat.write(nb, path)
    [finding] = review_paths([path])
    assert finding.rule == "R1" and "[cell 3, line 2]" in finding.message


def test_json_output_shape() -> None:
    review = review_paths([CORPUS / "r3_naive_reconciler.py"])
    data = json.loads(review.to_json())
    assert set(data) == {"files", "counts", "findings", "suppressed", "skipped"}
    assert data["counts"] == {"R1": 0, "R2": 0, "R3": 1, "R4": 0, "R5": 0}
    [finding] = data["findings"]
    assert set(finding) == {"path", "line", "col", "rule", "title", "message", "fix"}
    assert finding["rule"] == "R3" and finding["line"] == 10


def test_cli_exit_codes_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["review", str(CORPUS / "r1_offloaded_ok.py")]) == 0
    assert "No findings" in capsys.readouterr().out
    assert cli(["review", str(CORPUS / "r1_chat.py"), "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert [f["line"] for f in data["findings"]] == [7, 12, 20]
    code = "async def f(m):\n    return m.generate()\n"
    assert cli(["review", str(CORPUS / "r1_offloaded_ok.py"), "--block-name", "generate"]) == 0
    assert cli(["review", str(CORPUS / "r1_chat.py"), "--rule", "R5"]) == 0
    capsys.readouterr()
    assert cli(["review", "no/such/file.py"]) == 2
    assert "no such file or folder" in capsys.readouterr().err
    assert code  # the snippet above documents the block-name case covered in test_block_names_are_configurable


def test_cli_runs_as_a_module() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "labkit", "review", str(CORPUS / "r5_worker_loop.py")],
        capture_output=True, text=True, timeout=60,
    )
    assert run.returncode == 1 and "R5" in run.stdout


def test_notebook_02_solution_is_clean_and_its_stub_is_flagged() -> None:
    assert not review_paths([ROOT / "notebooks" / "solutions" / "02-boundaries.ipynb"])
    learner = review_paths([ROOT / "notebooks" / "02-boundaries.ipynb"])
    assert learner.rules() == ["R1"] and "model.chat" in learner[0].message


def test_cell_magic_registers_and_reviews(ipython_shell) -> None:
    ip = ipython_shell
    ip.run_line_magic("load_ext", "labkit.review")
    result = ip.run_cell_magic("review", "", "import time\nasync def f():\n    time.sleep(1)\n")
    assert isinstance(result, Review) and result.rules() == ["R1"]
    assert ip.run_cell_magic("review", "--block-name generate", "async def f(m):\n    m.generate()\n").rules() == ["R1"]
    with pytest.raises(ReviewError, match="does not understand"):
        ip.run_cell_magic("review", "--bogus", "x = 1\n")


def test_importing_labkit_registers_no_magic() -> None:
    run = subprocess.run(
        [sys.executable, "-c", "import sys, labkit; print('labkit.review.magic' in sys.modules, 'IPython' in sys.modules)"],
        capture_output=True, text=True, timeout=60,
    )
    assert run.stdout.split() == ["False", "False"]


def test_the_lab_passes_its_own_review() -> None:
    root = Path(__file__).resolve().parent.parent
    review = review_paths([root / "labkit", root / "benchmarks", *sorted((root / "notebooks" / "solutions").glob("*.ipynb"))])
    assert not review, review.text()


def test_capstone_review_sees_fail_written_through_a_store_helper() -> None:
    from labkit.lessons.capstone_service import review_piece
    from labkit.tasks.reconcilers import reconcile_epoch, reconcile_lua, reconcile_naive, reconcile_recheck, reconcile_watch

    for racy in (reconcile_naive, reconcile_recheck):
        found = review_piece("reconcile", racy)
        assert "R3" in found.rules() and "add_finish" in found.text(), racy.__name__
    for safe in (reconcile_watch, reconcile_lua, reconcile_epoch):
        assert "R3" not in review_piece("reconcile", safe).rules(), safe.__name__


def test_findings_name_the_chain_and_both_sides_of_a_shared_loop() -> None:
    review = review_paths([CORPUS / "x_wrapped_client"])
    r1 = [f for f in review if f.rule == "R1" and "zadd" in f.message]
    assert r1 and "heartbeat → REDIS_CONN.zadd → RedisDB.zadd → self.r.zadd (sync Redis)" in r1[0].message
    [shared] = [f for f in review if f.rule == "R4" and "runs as a task" in f.message]
    assert "`heartbeat`" in shared.message and "`handle_task`" in shared.message and "llm.chat" in shared.message
    handler = [f for f in review if f.rule == "R5"]
    assert {"time.sleep", "sys.exit"} <= {w for f in handler for w in ("time.sleep", "sys.exit") if w in f.message}


def test_r2_needs_a_resolved_coroutine() -> None:
    code = (
        "import logging\nlog = logging.getLogger()\n\nasync def info():\n    return 1\n\n"
        "def report(pipe, other):\n    log.info('x')\n    pipe.info()\n    other.info()\n    info()\n"
    )
    [finding] = review_source(code)
    assert finding.rule == "R2" and finding.line == 4  # only the call to our own `info`, from sync code


def test_import_cycles_do_not_stop_a_review(tmp_path: Path) -> None:
    pkg = tmp_path / "cyclic"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .b import helper\n\nasync def run():\n    helper()\n")
    (pkg / "b.py").write_text("from .a import helper\nimport time\n\nasync def main():\n    time.sleep(1)\n")
    assert review_paths([pkg]).rules() == ["R1"]
