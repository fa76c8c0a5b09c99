"""First paint, time to a usable list, and scrolling of a large inbox, in headless Chromium.

Run by the bench harness's `inbox` scenario (bench/src/inbox.rs) against a gateway it filled
with conversations. Prints one JSON object on stdout. Environment: SB_BASE, SB_EMAIL,
SB_PASSWORD, SB_CHROMIUM, SB_RUNS (page loads to time), SB_SCROLL_FRAMES.
"""

import json
import os
import urllib.request

from playwright.sync_api import sync_playwright

BASE = os.environ["SB_BASE"]
RUNS = int(os.environ.get("SB_RUNS", "7"))
FRAMES = int(os.environ.get("SB_SCROLL_FRAMES", "600"))

# Recorded by the page itself, so polling from here adds nothing to the figures: when the
# first list row appears (the list is loaded, rendered and answering keys).
FIRST_ROW = """
new MutationObserver((_, observer) => {
  if (document.querySelector('.row')) { window.__firstRow = performance.now(); observer.disconnect(); }
}).observe(document, { childList: true, subtree: true });
"""

SCROLL = """
async (frames) => {
  const box = document.querySelector('.list-scroll');
  const deltas = [];
  let maxRows = 0;
  let last = performance.now();
  for (let i = 0; i < frames; i++) {
    box.scrollTop += 900;
    await new Promise((resolve) => requestAnimationFrame(resolve));
    const now = performance.now();
    deltas.push(now - last);
    last = now;
    maxRows = Math.max(maxRows, document.querySelectorAll('.row').length);
  }
  const shown = document.querySelector('.list-foot').textContent;
  return { deltas, maxRows, shown };
}
"""


def login():
    body = json.dumps({"email": os.environ["SB_EMAIL"], "password": os.environ["SB_PASSWORD"]}).encode()
    request = urllib.request.Request(f"{BASE}/api/v1/auth/login", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def percentile(values, p):
    """Nearest-rank percentile, to 0.1 ms."""
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))], 1)


def main():
    session = json.dumps(login())
    seed = f"localStorage.setItem('switchboard.session', {json.dumps(session)});"
    first_paint, first_row = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=os.environ.get("SB_CHROMIUM", "/usr/bin/chromium"), args=["--no-sandbox"])
        for _ in range(RUNS):
            # Playwright's waiting predicates evaluate strings in the page, which the inbox's CSP
            # forbids; the policy changes nothing about painting.
            context = browser.new_context(viewport={"width": 1360, "height": 860}, bypass_csp=True)
            context.add_init_script(seed)
            context.add_init_script(FIRST_ROW)
            page = context.new_page()
            page.goto(BASE + "/")
            page.wait_for_function("window.__firstRow !== undefined", timeout=60_000)
            paint = page.evaluate("performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? null")
            first_paint.append(paint)
            first_row.append(page.evaluate("window.__firstRow"))
            last_page, last_context = page, context
        scroll = last_page.evaluate(SCROLL, FRAMES)
        last_context.close()
        browser.close()
    deltas = scroll["deltas"][1:]
    print(json.dumps({
        "runs": RUNS,
        "first_paint_ms": {"p50": percentile(first_paint, 50), "max": round(max(first_paint), 1)},
        "first_row_ms": {"p50": percentile(first_row, 50), "max": round(max(first_row), 1)},
        "scroll": {
            "frames": len(deltas),
            "frame_p50_ms": percentile(deltas, 50),
            "frame_p99_ms": percentile(deltas, 99),
            "frames_over_50ms": sum(1 for d in deltas if d > 50),
            "max_rows_in_dom": scroll["maxRows"],
            "list_after": scroll["shown"],
        },
    }))


if __name__ == "__main__":
    main()
