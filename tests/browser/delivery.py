"""A reply's delivery in the inbox, in real headless Chromium, driven by Playwright.

Run by `tests/e2e/delivery.rs`, which starts the gateway with a WhatsApp channel that gives up
after two attempts, scripts the fake Graph API to answer 503 twice, creates the agent and the
customer's conversation. Here the agent replies, sees it fail with the provider's message,
opens its delivery attempts, retries it, and sees it sent with the third attempt listed.
Then the customer-service window: open until a day after the customer's message; the script
prints `advance-clock` and waits for SB_SIGNAL to exist, while the test moves the gateway's
clock 25 hours on; the composer then says the window closed, a free-form reply is refused
with that reason, and a template goes out: one the admin recorded on the Templates page
(after a body with a gap in its parameters was refused), picked from the stored ones, its
parameter filled in with a preview, while one still in review cannot be picked.

The customer then reads the retried reply (the script prints `mark-read`; the test posts the
receipt and creates SB_READ_SIGNAL) and the thread marks it seen. After the clock moves, the
agent sets the contact's language (the template picker flags a template not in it), and the
template they send is refused by WhatsApp with 131047 (scripted by the test with the clock)
and fails over to SMS, which the thread and the delivery attempts show.

Environment: SB_BASE, SB_PASSWORD, SB_AGENT and SB_ADMIN (emails), SB_CHROMIUM, SB_SIGNAL and
SB_READ_SIGNAL (file paths).
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
READ_SIGNAL = os.environ["SB_READ_SIGNAL"]
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


def wait_for(request, signal):
    """Ask the test for `request` (a line on stdout) and wait until it says it is done."""
    print(request, flush=True)
    deadline = time.time() + 20
    while not os.path.exists(signal):
        assert time.time() < deadline, f"the test did not answer {request}"
        time.sleep(0.05)


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

        # The admin records the approved template agents will need once the window closes;
        # a body whose parameters skip a number is refused with why.
        admin.get_by_role("button", name="Templates").click()
        form = admin.get_by_role("form", name="New template")
        form.get_by_label("Name").fill("order_update")
        form.get_by_label("Language").fill("en_US")
        form.get_by_label("Body").fill("Hi {{1}}, order {{3}} is ready.")
        form.get_by_role("button", name="Save template").click()
        expect(admin.locator(".notice")).to_contain_text("{{2}}", timeout=TIMEOUT)
        form.get_by_label("Body").fill("Hi {{1}}, your order is ready for pickup.")
        form.get_by_role("button", name="Save template").click()
        row = admin.locator('[data-template="order_update.en_US"]')
        expect(row).to_contain_text("1 parameter", timeout=TIMEOUT)
        # And one still in review, which agents see but cannot send.
        form.get_by_label("Name").fill("spring_sale")
        form.get_by_label("Category").select_option("marketing")
        form.get_by_label("Body").fill("Spring sale: 20% off until Sunday.")
        form.get_by_label("Status").select_option("pending")
        form.get_by_role("button", name="Save template").click()
        expect(admin.locator('[data-template="spring_sale.en_US"]')).to_contain_text("marketing", timeout=TIMEOUT)
        accessible(admin, "the templates page")
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

        # The customer reads it (the test posts WhatsApp's read receipt): the thread marks it seen.
        wait_for("mark-read", READ_SIGNAL)
        expect(reply.locator(".seen")).to_contain_text("Seen", timeout=TIMEOUT)
        expect(page.locator(".seen")).to_have_count(1)

        # A day and an hour later (the test moves the gateway's clock), the window has closed.
        wait_for("advance-clock", SIGNAL)
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
        # The contact reads Portuguese, say: the picker flags the English template; back to English.
        page.get_by_role("button", name="Contact").click()
        language = page.get_by_label("Reads")
        language.fill("pt_BR")
        page.get_by_role("button", name="Save language").click()
        expect(page.get_by_role("button", name="Save language")).to_be_disabled(timeout=TIMEOUT)
        page.get_by_role("tab", name="Template").click()
        picker = page.get_by_label("Template to send")
        expect(picker.locator("option", has_text="order_update")).to_contain_text("not the contact's language", timeout=TIMEOUT)
        accessible(page, "the contact panel with a language")
        language.fill("en")
        page.get_by_role("button", name="Save language").click()
        expect(picker.locator("option", has_text="order_update")).not_to_contain_text("not the contact's language", timeout=TIMEOUT)
        page.get_by_role("button", name="Close the contact panel").click()
        # The one in review is listed but cannot be picked.
        expect(picker.locator("option", has_text="spring_sale")).to_be_disabled(timeout=TIMEOUT)
        picker.select_option(label="order_update · en_US")
        page.get_by_label("Parameter {{1}}").fill("José")
        expect(page.get_by_label("Template preview")).to_have_text("Hi José, your order is ready for pickup.")
        accessible(page, "the template picker")
        page.get_by_role("button", name="Send template").click()
        # The thread shows what the customer got: the body with its parameter filled in.
        sent = page.locator(".message.outbound", has_text="Hi José, your order is ready for pickup.")
        expect(sent).to_have_count(1, timeout=TIMEOUT)
        expect(page.locator(".message.outbound")).to_have_count(2, timeout=TIMEOUT)
        # WhatsApp refused it (the test scripted 131047) and it failed over to SMS: the thread
        # says so, and its delivery lists both attempts with their channels.
        expect(sent.locator(".failover")).to_have_text("Sent via SMS: WhatsApp could not deliver it (131047).", timeout=TIMEOUT)
        sent.get_by_text("Delivery", exact=True).click()
        tries = sent.get_by_role("list", name="Delivery attempts")
        expect(tries.locator("li").nth(0)).to_contain_text("Attempt 1 via WhatsApp: failed, sent on another channel", timeout=TIMEOUT)
        expect(tries.locator("li").nth(0)).to_contain_text("131047")
        expect(tries.locator("li").nth(1)).to_contain_text("via SMS: sent", timeout=TIMEOUT)
        accessible(page, "a reply that failed over")
        browser.close()
    print("all browser checks passed")


if __name__ == "__main__":
    try:
        main()
    except Exception as error:  # noqa: BLE001 - the harness prints the reason
        print(f"browser check failed: {error}", file=sys.stderr)
        raise
