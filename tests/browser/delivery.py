"""A reply's delivery in the inbox, in real headless Chromium, driven by Playwright.

Run by `tests/e2e/delivery.rs`, which starts the gateway with a WhatsApp channel that gives up
after two attempts, scripts the fake Graph API to answer 503 twice, creates the agent and the
customer's conversation. Here the agent replies, sees it fail with the provider's message,
opens its delivery attempts, retries it, and sees it sent with the third attempt listed.
Then the customer-service window: open until a day after the customer's message; the script
prints `advance-clock` and waits for SB_SIGNAL to exist, while the test moves the gateway's
clock 25 hours on; the composer then says the window closed, a free-form reply is refused
with that reason, and a template goes out.

Environment: SB_BASE, SB_PASSWORD, SB_AGENT and SB_ADMIN (emails), SB_CHROMIUM, SB_SIGNAL (a file path).
"""

import os
import sys
import time

from playwright.sync_api import sync_playwright, expect

BASE = os.environ["SB_BASE"]
PASSWORD = os.environ["SB_PASSWORD"]
AGENT = os.environ["SB_AGENT"]
ADMIN = os.environ["SB_ADMIN"]
CHROMIUM = os.environ.get("SB_CHROMIUM", "/usr/bin/chromium")
SIGNAL = os.environ["SB_SIGNAL"]
TIMEOUT = 15_000
AXE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "vendor", "axe.min.js")


def accessible(page, name):
    """Run axe-core on the page; fail on any serious or critical violation."""
    page.add_script_tag(path=AXE)
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    bad = [v for v in result["violations"] if v["impact"] in ("serious", "critical")]
    assert not bad, f"accessibility of {name}: " + "; ".join(f"{v['id']}: {v['help']}" for v in bad)


def signed_in(browser, email):
    """A page of a fresh context, signed in as `email`. bypass_csp only so axe-core can be
    injected; the inbox's own scripts are all 'self'."""
    page = browser.new_context(bypass_csp=True).new_page()
    page.goto(BASE + "/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    return page


def main():
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = signed_in(browser, AGENT)
        page.locator(".row", has_text="José García").click()

        page.get_by_label("Reply", exact=True).fill("Your order ships today.")
        page.get_by_role("button", name="Send", exact=True).click()
        # The customer wrote just now: free-form replies are allowed for 24 hours.
        expect(page.locator(".window.open")).to_contain_text("Free-form replies until", timeout=TIMEOUT)
        reply = page.locator(".message.outbound", has_text="Your order ships today.")
        # Two 503s and the channel gives up: the reply shows as not delivered, with why.
        expect(reply.locator(".ticks")).to_have_attribute("data-status", "failed", timeout=TIMEOUT)
        expect(reply.locator(".failure")).to_contain_text("Service unavailable")
        reply.get_by_text("Delivery", exact=True).click()
        attempts = reply.get_by_role("list", name="Delivery attempts")
        expect(attempts.locator("li")).to_have_count(2, timeout=TIMEOUT)
        expect(attempts.locator("li").nth(0)).to_contain_text("Attempt 1: failed, retried")
        expect(attempts.locator("li").nth(0)).to_contain_text("131016")
        expect(attempts.locator("li").nth(1)).to_contain_text("Attempt 2: failed, gave up")
        accessible(page, "a failed reply's delivery")

        # An admin sees it among the failed deliveries, with why.
        admin = signed_in(browser, ADMIN)
        admin.get_by_role("button", name="Failed deliveries").click()
        dead = admin.locator("[data-dead-letter]", has_text="Your order ships today.")
        expect(dead).to_contain_text("gave up after 2 attempts", timeout=TIMEOUT)
        expect(dead).to_contain_text("Service unavailable")
        accessible(admin, "the failed deliveries page")
        admin.context.close()

        # The agent retries it; it goes out, and the third attempt is listed.
        reply.get_by_role("button", name="Retry").click()
        expect(reply.locator(".ticks")).to_have_attribute("data-status", "sent", timeout=TIMEOUT)
        expect(reply.get_by_role("button", name="Retry")).to_have_count(0)
        expect(attempts.locator("li")).to_have_count(3, timeout=TIMEOUT)
        expect(attempts.locator("li").nth(2)).to_contain_text("Attempt 3: sent")
        # The status history: queued, failed, queued again by the retry, sent.
        steps = reply.get_by_label("Status history").locator("[data-status]")
        expect(steps).to_have_count(4, timeout=TIMEOUT)
        assert [steps.nth(i).get_attribute("data-status") for i in range(4)] == ["pending", "failed", "pending", "sent"]

        # A day and an hour later (the test moves the gateway's clock), the window has closed.
        print("advance-clock", flush=True)
        deadline = time.time() + 20
        while not os.path.exists(SIGNAL):
            assert time.time() < deadline, "the clock was not moved"
            time.sleep(0.05)
        page.reload()
        page.locator(".row", has_text="José García").click()
        closed = page.locator(".window.closed")
        expect(closed).to_contain_text("24-hour window closed", timeout=TIMEOUT)
        expect(closed).to_contain_text("Send a template")
        page.get_by_label("Reply", exact=True).fill("Are you still there?")
        page.get_by_role("button", name="Send", exact=True).click()
        expect(page.locator(".notice")).to_contain_text("window", timeout=TIMEOUT)
        expect(page.locator(".message.outbound", has_text="Are you still there?")).to_have_count(0)
        accessible(page, "a closed window")
        page.get_by_role("tab", name="Template").click()
        page.get_by_label("Template name").fill("order_update")
        page.get_by_label("Parameters, one per line").fill("José")
        page.get_by_role("button", name="Send template").click()
        expect(page.locator(".message.outbound")).to_have_count(2, timeout=TIMEOUT)
        browser.close()
    print("all browser checks passed")


if __name__ == "__main__":
    try:
        main()
    except Exception as error:  # noqa: BLE001 - the harness prints the reason
        print(f"browser check failed: {error}", file=sys.stderr)
        raise
