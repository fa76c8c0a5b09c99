"""Email in the agent inbox, in real headless Chromium driven by Playwright (named so as not to
shadow the standard library's `email` package).

Run by `tests/e2e/email.rs`, which starts the gateway with its SMTP listener and an email
channel whose relay is a loopback SMTP sink, and creates the agent. Here a customer's mail is
sent with Python's own `smtplib` (a real SMTP client) with quoted history and a PDF attached;
the agent sees it appear live, reads the subject, opens the full message, downloads the
attachment through the API and replies. Afterwards the Rust side checks what the sink received.

Environment: SB_BASE, SB_SMTP (host:port of the listener), SB_AGENT and SB_ADMIN (emails),
SB_RELAY (host:port the channel page must name), SB_PASSWORD,
SB_CHROMIUM, SB_SCREENSHOTS (a directory, or empty for none).
"""

import os
import smtplib
import sys
from email.message import EmailMessage

from playwright.sync_api import sync_playwright, expect

BASE = os.environ["SB_BASE"]
SMTP_HOST, SMTP_PORT = os.environ["SB_SMTP"].rsplit(":", 1)
AGENT = os.environ["SB_AGENT"]
ADMIN = os.environ["SB_ADMIN"]
RELAY = os.environ["SB_RELAY"]
PASSWORD = os.environ["SB_PASSWORD"]
CHROMIUM = os.environ.get("SB_CHROMIUM", "/usr/bin/chromium")
SHOTS = os.environ.get("SB_SCREENSHOTS", "")
TIMEOUT = 15_000
PDF = b"%PDF-1.4\n% a test invoice\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def send_customer_mail():
    message = EmailMessage()
    message["From"] = "Ann Lee <ann@customer.test>"
    message["To"] = "Acme Support <support@example.com>"
    message["Subject"] = "The lamp arrived broken"
    message["Message-ID"] = "<browser-1@customer.test>"
    message.set_content(
        "Hello, the lamp from order 1234 arrived in pieces. The invoice is attached.\n\n"
        "On Mon, 30 Nov 2026 at 09:12, Acme Support <support@example.com> wrote:\n"
        "> Your order 1234 has shipped.\n"
    )
    message.add_attachment(PDF, maintype="application", subtype="pdf", filename="invoice-1234.pdf")
    with smtplib.SMTP(SMTP_HOST, int(SMTP_PORT), timeout=10) as smtp:
        smtp.ehlo("mail.customer.test")
        refused = smtp.send_message(message)
        assert refused == {}, refused


def main():
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = browser.new_context(viewport={"width": 1360, "height": 860}, accept_downloads=True)
        page = context.new_page()
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("console", lambda message: message.type == "error" and errors.append(message.text))
        page.goto(BASE + "/")
        page.get_by_label("Email").fill(AGENT)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("region", name="Conversations")).to_be_visible(timeout=TIMEOUT)

        # The mail arrives over SMTP while the agent watches: it appears live.
        send_customer_mail()
        row = page.locator(".row", has_text="Ann Lee")
        expect(row).to_be_visible(timeout=TIMEOUT)
        row.click()
        inbound = page.locator(".message.inbound").first
        expect(inbound.locator(".subject")).to_have_text("The lamp arrived broken", timeout=TIMEOUT)
        expect(inbound.locator("p.text").first).to_contain_text("arrived in pieces")
        # The quoted history is left out of the shown text, and one click away.
        expect(inbound.locator("p.text").first).not_to_contain_text("has shipped")
        quoted = inbound.locator("details.quoted")
        expect(quoted.locator("p.text")).to_be_hidden()
        quoted.get_by_text("Show the full message").click()
        expect(quoted.locator("p.text")).to_contain_text("> Your order 1234 has shipped.")

        # The attachment downloads through the API with the agent's session.
        with page.expect_download() as download_info:
            inbound.get_by_role("button", name="Download invoice-1234.pdf").click()
        download = download_info.value
        assert download.suggested_filename == "invoice-1234.pdf", download.suggested_filename
        with open(download.path(), "rb") as f:
            assert f.read() == PDF, "the downloaded bytes are the attachment's"
        if SHOTS:
            page.screenshot(path=os.path.join(SHOTS, "email-light.png"))

        # The reply leaves through the relay; its tick shows it was taken.
        page.get_by_label("Reply", exact=True).fill("So sorry, Ann! A new lamp ships today.")
        page.get_by_role("button", name="Send", exact=True).click()
        outbound = page.locator(".message.outbound", has_text="A new lamp ships today")
        expect(outbound.locator(".ticks")).to_have_attribute("data-status", "sent", timeout=TIMEOUT)
        assert errors == [], f"errors on the page: {errors}"

        # The admin's channel page says which addresses the listener takes and where replies go.
        admin = browser.new_context(viewport={"width": 1360, "height": 860}).new_page()
        admin.goto(BASE + "/")
        admin.get_by_label("Email").fill(ADMIN)
        admin.get_by_label("Password").fill(PASSWORD)
        admin.get_by_role("button", name="Sign in").click()
        expect(admin.get_by_role("region", name="Conversations")).to_be_visible(timeout=TIMEOUT)
        admin.goto(BASE + "/#/admin/channels/email")
        expect(admin.locator('[data-mail="addresses"]')).to_contain_text("support@example.com", timeout=TIMEOUT)
        expect(admin.locator('[data-mail="relay"]')).to_have_text(RELAY)
        browser.close()
    print("all email browser checks passed")


if __name__ == "__main__":
    try:
        main()
    except Exception as error:  # noqa: BLE001 - report any failure to the Rust side
        print(f"email browser test failed: {error!r}", file=sys.stderr)
        raise
