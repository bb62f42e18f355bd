"""How fast the web console is usable on the local stack (issue 20: the first page in under 1 s).

  python -m bench.console [--runs 7]

Starts its own local stack on free ports, fills a tenant with the demo data of local/console_demo.py
(screens, a week of plays, two jobs), then in headless Chromium (local/browser.py), each run in a new
browser context (nothing cached, as a first visit):
  - sign-in usable: from navigation start to the sign-in form drawn and focused (the page's
    `performance.mark("sign-in-usable")`), i.e. HTML, CSS and the ES modules loaded and run;
  - jobs usable: from pressing "Sign in" to the jobs table drawn (token exchange, GET .../bulk/jobs);
  - report usable: from opening Reports to the chart drawn (a week's report from the local BigQuery).
Prints each run and the median and max of each. The targets: sign-in and jobs under 1 s.
"""

from __future__ import annotations

import argparse
import statistics

from local.browser import launch
from local.console_demo import seed
from local.stack import Ports, Stack


def _mark(page, name: str) -> float:
    return float(page.evaluate(f"performance.getEntriesByName('{name}')[0].startTime"))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    stack = Stack(ports=Ports.free(), settings_env={"COATRO_SWEEP_INTERVAL_SECONDS": "3600"})
    try:
        stack.start()
        demo = seed(stack, plays=300)
        figures: dict[str, list[float]] = {"sign-in usable": [], "jobs usable": [], "report usable": []}
        with sync_playwright() as playwright:
            browser = launch(playwright)
            for run in range(args.runs + 1):  # the first run warms the functions up and is not counted
                context = browser.new_context(viewport={"width": 1280, "height": 800})
                page = context.new_page()
                page.goto(stack.console_url)
                page.wait_for_selector("body[data-page=sign-in][data-state=ready]")
                sign_in = _mark(page, "sign-in-usable")
                page.fill("#client-id", demo.client_id)
                page.fill("#client-secret", demo.secret)
                pressed = float(page.evaluate("performance.now()"))
                page.click("#sign-in-button")
                page.wait_for_selector("body[data-page=jobs][data-state=ready] #jobs-table")
                jobs = _mark(page, "jobs-usable") - pressed
                opened = float(page.evaluate("performance.now()"))
                page.click("#nav a[data-page=reports]")
                page.wait_for_selector("body[data-page=reports][data-state=ready]")
                report = _mark(page, "reports-usable") - opened
                context.close()
                if run:
                    print(
                        f"run {run}: sign-in {sign_in:.0f} ms, jobs {jobs:.0f} ms, report {report:.0f} ms",
                        flush=True,
                    )
                    figures["sign-in usable"].append(sign_in)
                    figures["jobs usable"].append(jobs)
                    figures["report usable"].append(report)
            browser.close()
        for name, values in figures.items():
            print(
                f"{name:15s} median {statistics.median(values):6.0f} ms   max {max(values):6.0f} ms   (n={len(values)})"
            )
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
