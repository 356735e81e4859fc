"""The lab as learners meet it: `make lab`, a real JupyterLab, a real Chromium.

Each notebook is opened in the browser, run top to bottom, and inspected: no
error output, every figure drawn as an image and never scaled up past its
natural width (nor shrunk so far that its text drops under 10 px), no widget
label clipped, every widget rendered, and every demo panel re-runs its demo and
redraws when its control is used. A screenshot per notebook, per figure and per
widget lands in test-artifacts/browser/, with the measured image sizes in
image-sizes.json.

Skips with a reason when no Chromium is found; with CI set it fails instead.
"""

from __future__ import annotations

import os
import json
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts" / "browser"
NOTEBOOKS = sorted(ROOT.glob("notebooks/*.ipynb")) + sorted(ROOT.glob("notebooks/solutions/*.ipynb"))
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
RUN_TIMEOUT_MS = 120_000
# Figures use text of at least 9 pt at 100 dpi (12.5 px): shown at 80 % or more, it stays >= 10 px.
MIN_DISPLAY_RATIO = 0.8

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]


def _find_chromium() -> str | None:
    chosen = os.environ.get("LABKIT_CHROMIUM")
    if chosen:
        return chosen
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_server(url: str, proc: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"`make lab` exited with {proc.returncode} before the server came up")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"JupyterLab did not answer at {url} within {timeout} s")


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = _find_chromium()
    if path is None:
        reason = "no Chromium found (apt-get install chromium, or set LABKIT_CHROMIUM)"
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but {reason}: browser tests must run in CI")
        pytest.skip(reason)
    return path


@pytest.fixture(scope="module")
def lab_server(chromium_path: str, tmp_path_factory: pytest.TempPathFactory):
    """The README's own `make lab`, on a free port, with a known token.

    It runs in a copy of the repository, so JupyterLab's autosave can never
    write outputs into the committed notebooks.
    """
    port, token = _free_port(), secrets.token_hex(16)
    copy = tmp_path_factory.mktemp("lab") / "lab"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(".venv", ".git", "test-artifacts", "__pycache__"))
    log = ARTIFACTS.parent / "make-lab.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    lab_args = (
        f"--no-browser --port={port} --IdentityProvider.token={token} "
        "--LabApp.expose_app_in_browser=True --ServerApp.port_retries=0"
    )
    with log.open("w") as out:
        proc = subprocess.Popen(
            # -o: never reinstall into this venv from the temporary copy
            ["make", "-o", f"{sys.prefix}/.labkit-installed", "lab", f"VENV={sys.prefix}", f"LAB_ARGS={lab_args}"],
            cwd=copy, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for_server(f"{base}/api/status?token={token}", proc)
        yield base, token
    finally:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()


@pytest.fixture(scope="module")
def browser(chromium_path: str):
    # Playwright's sync API runs an event loop in this thread while it is open:
    # close it with this module, or every later asyncio test finds a loop running.
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path,
            headless=True,
            args=[
                "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
            ],
        )
        yield browser
        browser.close()


# JavaScript run in the page: JupyterLab's own models, not pixels, tell us what ran.
NOTEBOOK_STATE = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  const cells = panel.content.model.cells;
  const out = {code: 0, executed: 0, errors: [], images: 0, widgets: 0,
               status: panel.sessionContext.session?.kernel?.status};
  for (let i = 0; i < cells.length; i++) {
    const cell = cells.get(i).toJSON();
    if (cell.cell_type !== 'code') continue;
    out.code += 1;
    if (cell.execution_count) out.executed += 1;
    for (const o of cell.outputs || []) {
      if (o.output_type === 'error') out.errors.push(`cell ${i}: ${o.ename}: ${o.evalue}`);
      const data = o.data || {};
      if (data['image/png'] || data['image/svg+xml']) out.images += 1;
      if (data['application/vnd.jupyter.widget-view+json']) out.widgets += 1;
    }
  }
  return out;
}"""


def _open_notebook(page, base: str, token: str, notebook: Path) -> None:
    relative = notebook.relative_to(ROOT).as_posix()
    page.goto(f"{base}/lab/tree/{relative}?token={token}&reset", wait_until="domcontentloaded")
    page.wait_for_function(
        "() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
        " && window.jupyterapp.shell.currentWidget.sessionContext"
        " && window.jupyterapp.shell.currentWidget.sessionContext.session?.kernel",
        timeout=RUN_TIMEOUT_MS,
    )
    page.wait_for_function(
        "() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.status === 'idle'",
        timeout=RUN_TIMEOUT_MS,
    )


def _run_all(page) -> dict:
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    page.wait_for_function(
        f"() => {{ const s = ({NOTEBOOK_STATE})(); return s.status === 'idle' && (s.executed === s.code || s.errors.length > 0); }}",
        timeout=RUN_TIMEOUT_MS,
        polling=250,
    )
    page.wait_for_timeout(500)  # let widget views and images attach
    return page.evaluate(NOTEBOOK_STATE)


# JupyterLab 4 only keeps the cells near the viewport in the page: each output cell is scrolled
# into view before it is measured. These run on one cell's node (or, given none, the whole page).
OUTPUT_CELLS = """() => {
  const cells = window.jupyterapp.shell.currentWidget.content.model.cells;
  const out = [];
  for (let i = 0; i < cells.length; i++) {
    const outputs = cells.get(i).toJSON().outputs || [];
    if (outputs.some(o => o.data && (o.data['image/png'] || o.data['application/vnd.jupyter.widget-view+json']))) out.push(i);
  }
  return out;
}"""
SHOW_CELL = """async i => {
  const notebook = window.jupyterapp.shell.currentWidget.content;
  await notebook.scrollToItem(i, 'start');
  const node = notebook.widgets[i].node;
  node.scrollIntoView({block: 'start'});
  return !!node.querySelector('.jp-OutputArea');
}"""

# Every figure shown: its natural width and the width it is displayed at.
IMAGE_SIZES = """(i) => {
  const root = i === null ? document : window.jupyterapp.shell.currentWidget.content.widgets[i].node;
  return [...root.querySelectorAll('.jp-OutputArea-output img')]
    .filter(img => img.complete && img.naturalWidth > 0 && img.offsetParent !== null)
    .map(img => ({cell: i, natural: img.naturalWidth, shown: img.getBoundingClientRect().width}));
}"""

# Widget text that does not fit its box: buttons, labels, toggle buttons (their text overflows),
# and drop-downs (the chosen option is wider than the box minus its arrow).
CLIPPED_LABELS = """(i) => {
  const root = i === null ? document : window.jupyterapp.shell.currentWidget.content.widgets[i].node;
  const out = [];
  const scope = '.jp-OutputArea-output .jupyter-widgets';
  for (const el of root.querySelectorAll(`${scope} button, ${scope} .widget-label`)) {
    if (el.offsetParent !== null && el.scrollWidth > el.clientWidth + 1) out.push(el.textContent.trim());
  }
  const canvas = document.createElement('canvas').getContext('2d');
  for (const select of root.querySelectorAll(`${scope} select`)) {
    if (select.offsetParent === null || select.multiple) continue;
    const style = getComputedStyle(select);
    canvas.font = `${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
    const text = select.options[select.selectedIndex]?.text || '';
    if (canvas.measureText(text).width + 20 > select.clientWidth) out.push(text);
  }
  return out;
}"""


def _inspect_outputs(page, name: str, screenshots: bool = False) -> list[dict]:
    """Scroll to each cell with a figure or widget: no figure scaled up or shrunk past readability,
    no clipped widget label; optionally a screenshot of each such output. Returns the image sizes."""
    sizes: list[dict] = []
    for index in page.evaluate(OUTPUT_CELLS):
        if not page.evaluate(SHOW_CELL, index):
            continue
        page.wait_for_timeout(300)  # let images decode and widget views lay out
        cell_sizes = page.evaluate(IMAGE_SIZES, index)
        sizes += cell_sizes
        clipped = page.evaluate(CLIPPED_LABELS, index)
        assert not clipped, f"{name}, cell {index}: widget labels cut off: {clipped}"
        if screenshots:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            area = page.evaluate_handle(
                "i => window.jupyterapp.shell.currentWidget.content.widgets[i].node.querySelector('.jp-OutputArea')",
                index,
            ).as_element()
            if area is not None and area.is_visible():
                area.screenshot(path=str(ARTIFACTS / f"{name}--cell{index}.png"))
    scaled_up = [s for s in sizes if s["shown"] > s["natural"] + 1]
    assert not scaled_up, f"{name}: images shown wider than they were drawn (blurry): {scaled_up}"
    shrunk = [s for s in sizes if s["shown"] < MIN_DISPLAY_RATIO * s["natural"]]
    assert not shrunk, f"{name}: images shrunk below {MIN_DISPLAY_RATIO:.0%}, text under 10 px: {shrunk}"
    return sizes


def _record_sizes(name: str, sizes: list[dict]) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / "image-sizes.json"
    known = json.loads(path.read_text()) if path.exists() else {}
    known[name] = sizes
    path.write_text(json.dumps(known, indent=1, sort_keys=True))


def _rerun_demo_panels(page) -> int:
    """Use each demo panel's control and wait for its figure to change."""
    panels = page.locator(".labkit-demo")
    for index in range(panels.count()):
        panel = panels.nth(index)
        before = panel.locator("img").first.get_attribute("src")
        slider = panel.locator(".widget-slider input, .widget-slider [role='slider']").first
        if slider.count():
            slider.focus()
            page.keyboard.press("ArrowRight")
        panel.locator(".labkit-rerun").first.click()
        page.wait_for_function(
            """([i, before]) => {
                 const img = document.querySelectorAll('.labkit-demo')[i].querySelector('img');
                 return img && img.getAttribute('src') !== before;
               }""",
            arg=[index, before],
            timeout=RUN_TIMEOUT_MS,
        )
    return panels.count()


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.relative_to(ROOT / "notebooks").as_posix())
def test_notebook_runs_in_the_browser(browser, lab_server, notebook: Path) -> None:
    base, token = lab_server
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page_errors: list[str] = []
    page.on("pageerror", lambda exc: page_errors.append(str(exc)))
    name = notebook.relative_to(ROOT / "notebooks").as_posix().replace("/", "__")
    try:
        _open_notebook(page, base, token, notebook)
        state = _run_all(page)
        assert state["errors"] == [], f"error outputs in {notebook.name}: {state['errors']}"
        assert not page.get_by_text("get notified about official Jupyter news").count(), (
            "JupyterLab's news pop-up covers the widgets: `python -m labkit jupyter-settings` was not run in "
            f"{sys.prefix} (make writes it when it sets up the venv)"
        )
        assert state["code"] > 0 and state["executed"] == state["code"]

        rendered_images = page.locator(".jp-OutputArea-output img").evaluate_all(
            "imgs => imgs.filter(i => i.complete && i.naturalWidth > 0).length"
        )
        assert rendered_images >= state["images"], f"{state['images']} figures, {rendered_images} drawn"
        rendered_widgets = page.locator(".jp-OutputArea-output .jupyter-widgets").count()
        if state["widgets"]:
            assert rendered_widgets >= state["widgets"], f"{state['widgets']} widgets, {rendered_widgets} shown"
        assert not page.locator(".jp-OutputArea-output :text('Error displaying widget')").count()
        _inspect_outputs(page, name)
        _rerun_demo_panels(page)
        sizes = _inspect_outputs(page, name, screenshots=True)
        assert len(sizes) >= state["images"], f"{state['images']} figures, {len(sizes)} measured"
        _record_sizes(name, sizes)
        assert not [e for e in page_errors if "widget" in e.lower()], page_errors
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=False)
        page.evaluate("() => window.jupyterapp.shell.currentWidget?.sessionContext?.shutdown()")
        context.close()


def test_be_the_scheduler_by_clicking(browser, lab_server) -> None:
    """After Run All (its last cell, `lab.cleanup()`, deletes every key), a learner clicks the actors
    into the failing order and sees DONE -> FAIL; after "start over" on the Lua fix, it holds."""
    base, token = lab_server
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    try:
        _open_notebook(page, base, token, ROOT / "notebooks" / "03-racing-requeue.ipynb")
        state = _run_all(page)
        assert state["errors"] == [], state["errors"]
        panel = page.locator(".labkit-scheduler").first
        banner = panel.locator(".labkit-scheduler-banner")

        def play(order: str, restart: bool = True) -> None:
            if restart:
                panel.locator(".labkit-scheduler-restart").click()
                page.wait_for_function("p => p.querySelectorAll('ol li').length === 0", arg=panel.element_handle())
            for letter in order:
                button = panel.locator(".labkit-actor-" + {"W": "worker", "R": "reconciler"}[letter])
                if not button.is_enabled():
                    continue  # this actor has finished; the other one goes on
                steps = panel.locator("ol li").count()
                button.click()  # runs as a task on the kernel's loop; wait for the step to land
                page.wait_for_function(
                    "([p, n]) => p.querySelectorAll('ol li').length > n", arg=[panel.element_handle(), steps],
                    timeout=20_000,
                )

        play("WRWRRR", restart=False)  # the first clicks after Run All, as a learner makes them
        banner.get_by_text("DONE -> FAIL").wait_for(timeout=20_000)
        assert "{d1}" in panel.locator("ol li").nth(1).inner_text()  # the reconciler saw d1, not an empty Redis
        assert page.evaluate(CLIPPED_LABELS, None) == []

        from labkit.lessons.race_demo import VARIANTS

        panel.locator("select").select_option(label=f"lua: {VARIANTS['lua'][2]}")
        page.wait_for_timeout(500)
        play("WRWRRRRRRR")
        banner.get_by_text("every invariant holds").wait_for(timeout=20_000)
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "03-be-the-scheduler.png"))
        page.evaluate("() => window.jupyterapp.shell.currentWidget?.sessionContext?.shutdown()")
        context.close()
