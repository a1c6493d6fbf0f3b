"""Screenshots of every dashboard page in headless Debian chromium (no browser download).

    python scripts/screenshots.py [--db store/ai_futures.duckdb] [--out screenshots] [--port 8599]

Starts ``streamlit run dashboard/app.py`` on a local port against the given store, opens each page,
waits until Streamlit has finished running the script and the charts are drawn, and saves a
full-page PNG per page (``screenshots/<page>.png``). Prints each page's time to a drawn page.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: (file name, url path + query) for each page; queries show the interesting views.
PAGES = [
    ("overview", ""),
    (
        "fan_charts",
        "fan-charts?scenarios=baseline&scenarios=aifm_daniel&metric=time_horizon_minutes&samples=3",
    ),
    ("fan_charts_gdp", "fan-charts?scenarios=baseline&metric=gdp"),
    # a per-actor metric with one project picked (the actor selector)
    ("fan_charts_actor", "fan-charts?scenarios=baseline&metric=experiment_compute_h100e&actor=prc_frontier&samples=3"),
    ("fan_charts_nation_share", "fan-charts?scenarios=baseline&metric=share_of_world_compute&actor=prc&samples=3"),
    ("fan_charts_world_compute", "fan-charts?scenarios=baseline&metric=world_compute_h100e&samples=3"),
    # a scenario whose runs hit a finite-time singularity: bands thin out as runs stop (hover shows n)
    ("fan_charts_singular", "fan-charts?scenarios=tk_ms_task_automation&metric=gdp&samples=3"),
    ("milestones", "milestones"),
    ("takeoff", "takeoff"),
    ("rerun", "rerun"),
    ("parameters", "parameters"),
    ("sql", "sql"),
    ("policy", "policy?scenarios=us_prc_cap_2028&scenarios=no_agreement"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(db: Path | None, port: int, log: Path):
    """Run the dashboard on ``port``; yields its base URL; stops it (and only it) afterwards."""
    env = dict(os.environ)
    if db is not None:
        env["AIFS_DB"] = str(db)
    cmd = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(ROOT / "dashboard" / "app.py"),
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--server.fileWatcherType",
        "none",
    ]
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"streamlit exited: {log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.3)
        else:
            raise RuntimeError("streamlit did not start within 60 s")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextlib.contextmanager
def browser():
    """Headless Debian chromium with a throwaway profile."""
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="aifs-chromium-")
    try:
        with sync_playwright() as p:
            context = p.chromium.launch_persistent_context(
                profile,
                executable_path=CHROMIUM,
                headless=True,
                args=CHROMIUM_ARGS,
                viewport={"width": 1440, "height": 1000},
            )
            try:
                yield context
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def wait_rendered(page, timeout_s: float = 60.0) -> float:
    """Wait until Streamlit has run the page script to the end and its charts have drawn.

    Returns the wall-clock time (``time.time()``) at which the page went quiet (script finished, no
    skeletons); the function itself then waits a little longer for Vega to finish drawing.
    """
    page.wait_for_selector("[data-testid='stApp']", timeout=timeout_s * 1000)
    page.wait_for_selector("h1", timeout=timeout_s * 1000)  # every page has a title: the script has started
    deadline = time.time() + timeout_s
    quiet_since = None
    while time.time() < deadline:
        running = page.locator("[data-testid='stStatusWidget']").count() > 0
        skeleton = page.locator("[data-testid='stSkeleton']").count() > 0
        if not running and not skeleton:
            quiet_since = quiet_since or time.time()
            if time.time() - quiet_since > 0.6:
                break
        else:
            quiet_since = None
        time.sleep(0.1)
    page.wait_for_timeout(400)  # let Vega finish drawing
    return quiet_since or time.time()


def wait_for_freshness(page, timeout_s: float = 60.0) -> None:
    """The Overview checks each ensemble's freshness in the background (it loads the simulator, seconds
    on a fresh server) and shows "checking …" meanwhile; wait for the real values before a screenshot."""
    deadline = time.time() + timeout_s
    while time.time() < deadline and page.get_by_text("checking …").count() > 0:
        time.sleep(0.25)
    wait_rendered(page)


def shoot(page, target: Path) -> None:
    """Screenshot the whole page: Streamlit scrolls inside its main container, so grow the viewport to fit it."""
    height = page.evaluate(
        "() => { const m = document.querySelector(\"[data-testid='stMain']\") || document.body;"
        " return Math.max(m.scrollHeight, document.body.scrollHeight); }"
    )
    size = page.viewport_size
    page.set_viewport_size({"width": size["width"], "height": int(min(max(height, 800), 12000))})
    page.wait_for_timeout(600)  # charts re-layout to the new size
    page.screenshot(path=str(target), full_page=True)
    page.set_viewport_size(size)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--db", type=Path, default=None, help="store to show (default: $AIFS_DB or pipelines.DEFAULT_DB)"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "screenshots")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--pages", nargs="*", help="only these page names")
    parser.add_argument(
        "--with-rerun",
        type=int,
        metavar="N",
        default=0,
        help="also click Run on the Rerun page with N samples (adds a user ensemble to the store) "
        "and screenshot the comparison (rerun_result.png)",
    )
    args = parser.parse_args(argv)
    if not Path(CHROMIUM).exists():
        print(f"chromium not found at {CHROMIUM} (apt-get install chromium); no screenshots taken")
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    port = args.port or free_port()
    with serve(args.db, port, args.out / "streamlit.log") as url, browser() as context:
        page = context.new_page()
        for name, path in PAGES:
            if args.pages and name not in args.pages:
                continue
            started = time.time()
            page.goto(f"{url}/{path}")
            seconds = wait_rendered(page) - started  # navigation until the page went quiet
            wait_for_freshness(page)
            target = args.out / f"{name}.png"
            shoot(page, target)
            errors = page.locator("[data-testid='stException']").count()
            print(
                f"{name:16s} {seconds:5.2f} s  {target}"
                + (f"  ({errors} exception(s) shown!)" if errors else "")
            )
        if args.with_rerun:
            page.goto(f"{url}/rerun?n={args.with_rerun}&set=software_rnd.present_doubling_time:0.3")
            wait_rendered(page)
            started = time.time()
            page.get_by_role("button", name="Run").click()
            page.get_by_text("ready", exact=False).first.wait_for(timeout=1_800_000)
            wait_rendered(page)
            target = args.out / "rerun_result.png"
            shoot(page, target)
            print(
                f"{'rerun_result':16s} {time.time() - started:5.2f} s  {target}  (Run clicked to comparison shown)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
