"""Benchmark the dashboard in a real headless Chromium: how long switching neuron takes to
repaint the text, paging, and a regex search over all units, measured inside the browser
(from the click to the moment the new spans are laid out / the results table is filled).

    python -m dashboards.benchmark runs --run austen --rec val --switches 30 --regex '"[^"]*"'
    python -m dashboards.benchmark runs --run austen --rec val --layer 0 --unit 229 --clicks 20

Prints medians and percentiles; --json writes them to a file. Target on a 1M-character 2x256
recording: neuron switch <= 300 ms median, search <= 3 s. --clicks times clicking characters of
the neuron view until the text before each is coloured by its contribution (`charnn.attribute`;
target 300 ms), spread over the window, the first click apart (it loads the model). Opening a
recording starts building its search summary (per-unit sums and histograms, once per
recording) in the background, so the neuron switches here are timed while that runs, and a
search started before it ends waits for it; --first-regex times the first search after the
switches and pages apart, so that --regex times a fresh query. Repeats of the same query come
from the server's cache of results. To time a recording from scratch, delete its
cache/histograms-*.npz first.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from urllib.parse import urlencode

from selenium.webdriver.common.keys import Keys

from . import create_app
from .browser import chromium, wait_for
from .server import start

# Click a button, resolve with the ms until charnn.js reports a paint whose key differs.
CLICK_AND_WAIT_PAINT = """
const [buttonId, done] = [arguments[0], arguments[arguments.length - 1]];
const before = window.charnnLastPaint ? window.charnnLastPaint.key : null;
const t0 = performance.now();
document.getElementById(buttonId).click();
(function check() {
  const p = window.charnnLastPaint;
  if (p && p.id === "text" && p.key !== before) return done(p.t - t0);
  if (performance.now() - t0 > 20000) return done(-1);
  setTimeout(check, 1);
})();
"""

# Click character i of the neuron view, resolve with the ms from the click (as charnn.js records it)
# until the text is painted with the contributions to the unit's value there.
CLICK_CHAR_AND_WAIT = """
const [i, done] = [arguments[0], arguments[arguments.length - 1]];
const before = window.charnnLastPaint ? window.charnnLastPaint.t : null;
document.querySelector(`#text span[data-i='${i}']`).click();
const t0 = window.charnnAttributeClick;
(function check() {
  const p = window.charnnLastPaint;
  if (p && p.id === "text" && p.t !== before && p.key.startsWith("contributions")) return done(p.t - t0);
  if (performance.now() - t0 > 20000) return done(-1);
  setTimeout(check, 1);
})();
"""

# Type a regex, press Search, resolve with the ms until the status says the units are ranked.
SEARCH_AND_WAIT = """
const [done] = [arguments[arguments.length - 1]];
const t0 = performance.now();
let cleared = false;  // the click first replaces the previous search's status
document.getElementById("search-go").click();
(function check() {
  const status = document.getElementById("search-status").textContent;
  const error = document.getElementById("search-error").textContent;
  cleared = cleared || !status.includes("ranked");
  if (cleared && status.includes("ranked")) return done([performance.now() - t0, status]);
  if (error) return done([-1, error]);
  if (performance.now() - t0 > 120000) return done([-1, "timeout"]);
  setTimeout(check, 5);
})();
"""


def type_into(box, text: str) -> None:
    """Replace the input's text the way a user does (select all, type): Selenium's clear() leaves
    React's copy of the value in place, and keys typed after it are appended to that copy."""
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(Keys.BACKSPACE)
    box.send_keys(text)
    if box.get_attribute("value") != text:
        raise RuntimeError(f"the search box holds {box.get_attribute('value')!r}, not {text!r}")


def summary(ms: list[float]) -> dict:
    ms = sorted(ms)
    return {"n": len(ms), "median_ms": round(statistics.median(ms), 1), "p90_ms": round(ms[math.ceil(0.9 * len(ms)) - 1], 1),
            "min_ms": round(ms[0], 1), "max_ms": round(ms[-1], 1)}


def clicks(driver, n: int) -> dict:
    """Attribution clicks on characters 250.. of the window (a full 200-character window before each)."""
    width = driver.execute_script("return document.querySelectorAll('#text span[data-i]').length")
    spots = [250 + (97 * k) % max(1, width - 250) for k in range(n + 1)]
    ms = [driver.execute_async_script(CLICK_CHAR_AND_WAIT, i) for i in spots]
    if min(ms) < 0:
        raise RuntimeError("an attribution click was not painted within 20 s")
    return {"attribution_first_click_ms": round(ms[0], 1), "attribution_click": summary(ms[1:])}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs_dir")
    p.add_argument("--run")
    p.add_argument("--rec")
    p.add_argument("--layer", type=int, default=1)
    p.add_argument("--kind", default="c")
    p.add_argument("--unit", type=int, default=0)
    p.add_argument("--switches", type=int, default=30)
    p.add_argument("--clicks", type=int, default=0, help="also time this many attribution clicks")
    p.add_argument("--pages", type=int, default=10)
    p.add_argument("--regex", default=None, help="also time a search for this regex (all units)")
    p.add_argument("--searches", type=int, default=3)
    p.add_argument("--first-regex", default=None,
                   help="search this first (after the switches and pages), then time --regex fresh")
    p.add_argument("--json", default=None, help="write the results to this file")
    args = p.parse_args(argv)

    server = start(create_app(args.runs_dir))
    driver = chromium(1400, 1000)
    driver.set_script_timeout(180)
    results = {}
    try:
        wanted = dict(run=args.run, rec=args.rec, layer=args.layer, kind=args.kind, unit=args.unit)
        query = {k: v for k, v in wanted.items() if v is not None}
        driver.get(server.url + "?" + urlencode(query))
        wait_for(lambda: driver.execute_script("return window.charnnLastPaint && window.charnnLastPaint.id === 'text'"),
                 timeout=120, what="the first paint")
        if args.clicks:
            results.update(clicks(driver, args.clicks))
        driver.execute_async_script(CLICK_AND_WAIT_PAINT, "unit-next")  # warm-up
        results["neuron_switch"] = summary([driver.execute_async_script(CLICK_AND_WAIT_PAINT, "unit-next")
                                            for _ in range(args.switches)])
        results["page_next"] = summary([driver.execute_async_script(CLICK_AND_WAIT_PAINT, "page-next")
                                        for _ in range(args.pages)])
        if args.regex:
            box = driver.find_element("id", "search-regex")
            if args.first_regex:
                type_into(box, args.first_regex)
                first = driver.execute_async_script(SEARCH_AND_WAIT)
                results["search_first_on_recording"] = {"ms": round(first[0], 1), "regex": args.first_regex,
                                                        "status": first[1]}
            type_into(box, args.regex)
            runs = [driver.execute_async_script(SEARCH_AND_WAIT) for _ in range(args.searches)]
            bad = [r[1] for r in runs if r[0] < 0]
            if bad:
                raise RuntimeError(f"search failed: {bad[0]}")
            results["search_fresh"] = {"ms": round(runs[0][0], 1), "regex": args.regex, "status": runs[0][1]}
            if len(runs) > 1:  # the same query again: answered from the server's cache of results
                results["search_cached"] = summary([r[0] for r in runs[1:]])
        results["browser_errors"] = driver.get_log("browser")
    finally:
        driver.quit()
        server.stop()
    print(json.dumps(results, indent=2))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return results


if __name__ == "__main__":
    main()
