"""Website chat in real headless Chromium, driven by Playwright: a visitor on the demo shop page
and an agent in the inbox, side by side.

Run by `tests/e2e/webchat.rs`, which starts the gateway with a web chat channel and creates the
agent. The visitor opens the widget on /demo/webchat and writes; the message appears in the
agent's inbox live; the agent types (the widget shows it) and answers; the reply appears in the
widget live and the agent sees it read; after a reload the visitor sees the whole history. The
widget also runs on a phone-sized screen. With SB_SCREENSHOTS set, the widget is photographed
closed and open, on desktop and phone.

Environment: SB_BASE, SB_AGENT (email), SB_PASSWORD, SB_CHROMIUM, SB_SCREENSHOTS (a directory,
or empty for none).
"""

import os
import re
import sys

from playwright.sync_api import sync_playwright, expect

BASE = os.environ["SB_BASE"]
AGENT = os.environ["SB_AGENT"]
PASSWORD = os.environ["SB_PASSWORD"]
CHROMIUM = os.environ.get("SB_CHROMIUM", "/usr/bin/chromium")
SHOTS = os.environ.get("SB_SCREENSHOTS", "")
TIMEOUT = 15_000
QUESTION = "Hi! Do you ship the Ethiopia Guji beans to Lisbon?"
ANSWER = "We do: 2-3 days to Lisbon, free over 40 EUR."


def shot(page, name):
    if SHOTS:
        page.screenshot(path=os.path.join(SHOTS, name))


def widget(page):
    """The demo page with the widget connected."""
    page.goto(BASE + "/demo/webchat")
    expect(page.locator("#switchboard-webchat")).to_have_attribute("data-state", "connected", timeout=TIMEOUT)


def watch_errors(page, errors):
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.on("response", lambda response: response.status >= 400 and errors.append(f"{response.status} {response.url}"))


def main():
    errors = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])

        # The agent signs in first and waits in the inbox.
        inbox = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
        watch_errors(inbox, errors)
        inbox.goto(BASE + "/")
        inbox.get_by_label("Email").fill(AGENT)
        inbox.get_by_label("Password").fill(PASSWORD)
        inbox.get_by_role("button", name="Sign in").click()
        expect(inbox.get_by_role("region", name="Conversations")).to_be_visible(timeout=TIMEOUT)

        # A visitor on the shop's page: the launcher, then the panel, by keyboard.
        visitor = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
        watch_errors(visitor, errors)
        widget(visitor)
        launcher = visitor.locator('[data-testid="launcher"]')
        expect(launcher).to_have_attribute("aria-label", "Open chat")
        # The page's own aggressive CSS (uppercase serif buttons) does not reach the widget.
        assert launcher.evaluate("b => getComputedStyle(b).textTransform") == "none"
        shot(visitor, "webchat-closed-desktop.png")
        launcher.focus()
        visitor.keyboard.press("Enter")
        panel = visitor.locator('[data-testid="panel"]')
        expect(panel).to_be_visible()
        composer = visitor.locator('[data-testid="composer"]')
        expect(composer).to_be_focused()
        expect(panel).to_contain_text("Questions about beans")
        composer.fill(QUESTION)
        visitor.keyboard.press("Enter")
        mine = visitor.locator('[data-testid="message"][data-direction="in"]', has_text=QUESTION)
        expect(mine).to_be_visible()
        expect(mine).not_to_have_attribute("data-status", "sending", timeout=TIMEOUT)

        # It reaches the inbox live, without a reload.
        row = inbox.locator(".row", has_text="Website visitor")
        expect(row).to_be_visible(timeout=TIMEOUT)
        row.click()
        expect(inbox.locator(".message.inbound", has_text=QUESTION)).to_be_visible(timeout=TIMEOUT)

        # The visitor types: the agent sees it.
        composer.press_sequentially("and to Porto", delay=20)
        expect(inbox.locator('[data-testid="contact-typing"]')).to_be_visible(timeout=TIMEOUT)
        composer.fill("")

        # The agent types: the widget shows it, then the reply arrives live.
        reply = inbox.get_by_label("Reply", exact=True)
        reply.press_sequentially("We do", delay=20)
        typing = visitor.locator('[data-testid="typing"]')
        expect(typing).to_be_visible(timeout=TIMEOUT)
        reply.fill(ANSWER)
        inbox.get_by_role("button", name="Send", exact=True).click()
        answer = visitor.locator('[data-testid="message"][data-direction="out"]', has_text=ANSWER)
        expect(answer).to_be_visible(timeout=TIMEOUT)
        expect(typing).to_have_count(0, timeout=TIMEOUT)
        # The panel is open and the page visible: the agent sees the reply read.
        outbound = inbox.locator(".message.outbound", has_text=ANSWER)
        expect(outbound.locator(".ticks")).to_have_attribute("data-status", "read", timeout=TIMEOUT)
        shot(visitor, "webchat-open-desktop.png")

        # Nobody is online: the visitor leaves an email, and the agent sees it on the contact.
        offline = visitor.locator('[data-testid="offline"]')
        expect(offline).to_contain_text("within a few hours")
        visitor.locator('[data-testid="offline-email"]').fill("guji.fan@example.com")
        visitor.locator('[data-testid="offline-email"]').press("Enter")
        expect(offline).to_contain_text("guji.fan@example.com", timeout=TIMEOUT)
        inbox.get_by_role("button", name="Contact").click()
        panel_contact = inbox.get_by_role("complementary", name="Contact")
        expect(panel_contact.locator('[data-identity-email="guji.fan@example.com"]')).to_be_visible(timeout=TIMEOUT)
        inbox.get_by_role("button", name="Close the contact panel").click()

        # The admin's channel page gives the snippet and says who may embed it.
        inbox.goto(BASE + "/#/admin/channels/webchat")
        expect(inbox.locator("#channel-snippet")).to_have_value(re.compile(r'data-channel="webchat"'), timeout=TIMEOUT)
        expect(inbox.locator('[data-webchat="origins"]')).to_contain_text("https://shop.example")
        expect(inbox.locator('[data-webchat="identity"]')).to_contain_text("Verified")
        inbox.goto(BASE + "/")

        # A reload: the whole history is back.
        visitor.reload()
        expect(visitor.locator("#switchboard-webchat")).to_have_attribute("data-state", "connected", timeout=TIMEOUT)
        visitor.locator('[data-testid="launcher"]').click()
        expect(visitor.locator('[data-testid="message"]', has_text=QUESTION)).to_be_visible(timeout=TIMEOUT)
        expect(visitor.locator('[data-testid="message"]', has_text=ANSWER)).to_be_visible()
        # Escape closes the panel and gives the focus back to the launcher.
        visitor.keyboard.press("Escape")
        expect(visitor.locator('[data-testid="panel"]')).to_be_hidden()
        expect(visitor.locator('[data-testid="launcher"]')).to_be_focused()

        # On a phone, in Portuguese: the panel takes the whole screen.
        phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True, locale="pt-BR").new_page()
        watch_errors(phone, errors)
        widget(phone)
        shot(phone, "webchat-closed-phone.png")
        phone.locator('[data-testid="launcher"]').tap()
        phone_panel = phone.locator('[data-testid="panel"]')
        expect(phone_panel).to_be_visible()
        expect(phone_panel).to_have_attribute("lang", "pt")
        box = phone_panel.bounding_box()
        assert box and box["width"] >= 389 and box["height"] >= 800, box
        phone.locator('[data-testid="composer"]').fill("Olá! Vocês têm café descafeinado?")
        phone.locator('[data-testid="send"]').tap()
        expect(phone.locator('[data-testid="message"][data-direction="in"]')).not_to_have_attribute("data-status", "sending", timeout=TIMEOUT)
        shot(phone, "webchat-open-phone.png")
        expect(inbox.locator(".row", has_text="Website visitor")).to_have_count(2, timeout=TIMEOUT)

        assert errors == [], f"errors on the pages: {errors}"
        browser.close()
    print("all web chat browser checks passed")


if __name__ == "__main__":
    try:
        main()
    except Exception as error:  # noqa: BLE001 - report any failure to the Rust side
        print(f"web chat browser test failed: {error!r}", file=sys.stderr)
        raise
