"""Save a PNG of each dashboard view, made in the same headless Chromium as the browser tests.

    .venv/bin/python scripts/screenshots.py runs docs/screenshots --run austen --rec val --regex '"[^"]*"'

Starts the app on RUNS_DIR (the CLI's server, a free port on 127.0.0.1), explains the recording
on the Explain tab if it has no explanations yet, runs the regex search, opens its best unit and
writes one PNG per tab into OUT_DIR: neuron, details, explain, heatmap, model, intervene (the unit
zeroed over the window) and history (with --other, the match against that run; probe recordings,
if the run has them, over training); and versus (the Explain tab's units against latents) if the
recording stores autoencoder latents. Needs Debian's chromium and chromium-driver, and selenium
(from dash[testing]).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

import torch  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402

from dashboards import create_app  # noqa: E402
from dashboards.browser import chromium, settled, text_of, wait_for  # noqa: E402
from dashboards.server import start  # noqa: E402

TABS = {"neuron": "Neuron", "details": "Unit details", "explain": "Explain", "heatmap": "Many neurons", "model": "Model",
        "intervene": "Intervene", "history": "History"}
BEST = '#search-table .ag-center-cols-container .ag-row[row-index="0"] .ag-cell[col-id="unit"]'
SHOTS = ("explain", "versus", "neuron", "details", "heatmap", "model", "intervene", "history")


def settle(driver, pause: float = 0.6) -> None:
    """Wait until Dash has nothing in flight, then let plots finish drawing."""
    wait_for(lambda: settled(driver), timeout=120, what="Dash callbacks")
    time.sleep(pause)


def open_tab(driver, tab: str) -> None:
    driver.find_element("xpath", f"//*[@id='tabs']//*[text()='{TABS[tab]}']").click()


def search(driver) -> None:
    """Run the search that the URL put into the panel and open its best unit."""
    settle(driver, pause=0.2)
    driver.find_element("id", "search-go").click()
    wait_for(lambda: "ranked" in text_of(driver, "search-status") or text_of(driver, "search-error"),
             timeout=300, what="the search")
    if text_of(driver, "search-error"):
        raise RuntimeError(f"search failed: {text_of(driver, 'search-error')}")
    best = wait_for(lambda: driver.find_elements("css selector", BEST), timeout=30, what="the results table")[0]
    name = best.text
    best.click()
    wait_for(lambda: f"unit {name}" in text_of(driver, "text-status"), timeout=60, what="the best unit")


def explain(driver) -> None:
    """Show the Explain tab, computing the recording's explanations there first if it has none."""
    open_tab(driver, "explain")
    wait_for(lambda: text_of(driver, "explain-note"), timeout=60, what="the Explain tab")
    if "no explanations yet" in text_of(driver, "explain-note"):
        driver.find_element("id", "explain-go").click()
        wait_for(lambda: "units explained" in text_of(driver, "explain-status") or text_of(driver, "explain-error"),
                 timeout=1800, interval=1.0, what="the explanations")
        if text_of(driver, "explain-error"):
            raise RuntimeError(f"explain failed: {text_of(driver, 'explain-error')}")
    wait_for(lambda: driver.find_elements("css selector", '#explain-table .ag-row[row-index="0"]'), timeout=60,
             what="the explain table")


def compare(driver) -> bool:
    """On the Explain tab, compare units and latents and scroll to the table; False if the recording
    stores no latents."""
    wait_for(lambda: text_of(driver, "versus-note"), timeout=60, what="units against latents")
    if not driver.find_element("id", "versus-go").is_displayed():
        return False
    driver.find_element("id", "versus-go").click()
    wait_for(lambda: "concepts compared" in text_of(driver, "versus-status") or text_of(driver, "versus-error"),
             timeout=1800, interval=1.0, what="units against latents")
    if text_of(driver, "versus-error"):
        raise RuntimeError(f"units against latents failed: {text_of(driver, 'versus-error')}")
    driver.execute_script("arguments[0].scrollIntoView()", driver.find_element("css selector", ".versus-view"))
    return True


def hover(driver, index: int) -> None:
    """Show the tooltip of the index-th character of the text window."""
    span = driver.find_element("css selector", f'#text span[data-i="{index}"]')
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", span)
    ActionChains(driver).move_to_element(span).perform()


def first_match(driver) -> tuple[int, int] | None:
    """[start, stop) text positions of the first underlined match in the neuron view."""
    return driver.execute_script("""
        const marked = Array.from(document.querySelectorAll('#text span.m')).map(s => Number(s.dataset.i));
        const el = document.getElementById('text');
        if (!marked.length || !el._charnn) return null;
        let stop = marked[0] + 1;
        while (marked.includes(stop)) stop++;
        return [el._charnn.win.start + marked[0], el._charnn.win.start + stop];""")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs_dir")
    p.add_argument("out_dir", nargs="?", default="docs/screenshots")
    p.add_argument("--run")
    p.add_argument("--rec")
    p.add_argument("--regex", default='"[^"]*"', help="search run for the screenshots (default: text in double quotes)")
    p.add_argument("--concept", default=None, help="search this built-in concept instead of the regex")
    p.add_argument("--pos", type=int, default=0, help="text position the neuron view starts at")
    p.add_argument("--width", type=int, default=1400)
    p.add_argument("--height", type=int, default=900)
    p.add_argument("--other", default=None, help="a run with a recording of the same name, to match in the history tab")
    args = p.parse_args(argv)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)  # as `charnn dashboard` runs by default (--threads 1)

    server = start(create_app(args.runs_dir))
    driver = chromium(args.width, args.height)
    try:
        query = dict(run=args.run, rec=args.rec, pos=args.pos, win=2000,
                     **({"concept": args.concept} if args.concept else {"regex": args.regex}))
        query = {k: v for k, v in query.items() if v is not None}
        driver.get(server.url + "?" + urlencode(query))
        wait_for(lambda: "chars" in text_of(driver, "text-status"), timeout=120, what="the text")
        driver.set_window_size(args.width, args.height + 300)
        explain(driver)
        settle(driver)
        driver.save_screenshot(str(out / "explain.png"))
        driver.set_window_size(args.width, args.height)
        compared = compare(driver)
        if compared:
            settle(driver)
            driver.save_screenshot(str(out / "versus.png"))

        driver.set_window_size(args.width, args.height)
        open_tab(driver, "neuron")
        search(driver)
        settle(driver)
        hover(driver, 40)
        driver.save_screenshot(str(out / "neuron.png"))

        driver.set_window_size(args.width, args.height + 500)
        open_tab(driver, "details")
        wait_for(lambda: "unit" in text_of(driver, "details-title"), timeout=120, what="unit details")
        settle(driver)
        driver.save_screenshot(str(out / "details.png"))

        span = first_match(driver)
        open_tab(driver, "heatmap")
        driver.find_element("id", "heat-from-search").click()
        if span:
            for box, value in zip(("span-start", "span-stop"), span):
                driver.find_element("id", box).send_keys(str(value))
            driver.find_element("id", "span-go").click()
        settle(driver)
        driver.save_screenshot(str(out / "heatmap.png"))

        driver.set_window_size(args.width, args.height + 200)
        open_tab(driver, "model")
        wait_for(lambda: "model loss" in text_of(driver, "loss-text-status"), timeout=120, what="the model view")
        settle(driver, pause=1.0)
        driver.save_screenshot(str(out / "model.png"))

        open_tab(driver, "intervene")
        driver.find_element("id", "ivn-go").click()
        wait_for(lambda: "loss change" in text_of(driver, "ivn-text-status") or text_of(driver, "ivn-error"),
                 timeout=300, what="the intervention")
        settle(driver)
        driver.save_screenshot(str(out / "intervene.png"))

        open_tab(driver, "history")
        settle(driver)
        if args.other:
            driver.find_element("id", "hist-match-go").click()
            wait_for(lambda: text_of(driver, "hist-match-best") or text_of(driver, "hist-match-error"),
                     timeout=300, what="the match")
        if driver.find_element("id", "hist-probes").is_displayed():
            driver.find_element("id", "hist-concept-go").click()
            wait_for(lambda: "done" in text_of(driver, "hist-concept-status") or text_of(driver, "hist-concept-error"),
                     timeout=300, what="the concept's history")
        settle(driver)
        driver.save_screenshot(str(out / "history.png"))
        errors = driver.get_log("browser")
    finally:
        driver.quit()
        server.stop()
    for name in SHOTS:
        if name != "versus" or compared:
            print(out / f"{name}.png")
    if errors:
        print(f"browser console errors: {errors}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
