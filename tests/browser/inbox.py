"""The agent inbox in real headless Chromium, driven by Playwright.

Run by `tests/e2e/inbox.rs`, which starts the gateway (real SQLite or PostgreSQL, the real
WhatsApp plugin, a loopback fake of the Graph API and of Twilio), creates the agents and an
SMS conversation, then runs this script and afterwards checks what the fake providers
received. Everything here goes through the browser, except what a provider would do: posting
signed webhooks, and reading message ids to report a delivery.

Environment: SB_BASE (gateway URL), SB_APP_SECRET (WhatsApp app secret), SB_FIXTURES,
SB_PASSWORD, SB_AGENT_A / SB_AGENT_B (emails), SB_NAME_A / SB_NAME_B (display names), SB_CHROMIUM, SB_SCREENSHOTS (a directory, or
empty for none), SB_NOTE (the note text the fake must never receive).
"""

import hashlib
import hmac
import json
import os
import re
import sys
import tempfile
import urllib.error
import urllib.request

from playwright.sync_api import sync_playwright, expect

BASE = os.environ["SB_BASE"]
SECRET = os.environ["SB_APP_SECRET"].encode()
FIXTURES = os.environ["SB_FIXTURES"]
PASSWORD = os.environ["SB_PASSWORD"]
ANA = os.environ["SB_AGENT_A"]
BO = os.environ["SB_AGENT_B"]
NAME_A = os.environ["SB_NAME_A"]
NAME_B = os.environ["SB_NAME_B"]
ADMIN = os.environ["SB_ADMIN"]
PUBLIC_URL = os.environ["SB_PUBLIC_URL"]
CHROMIUM = os.environ.get("SB_CHROMIUM", "/usr/bin/chromium")
SHOTS = os.environ.get("SB_SCREENSHOTS", "")
NOTE = os.environ["SB_NOTE"]
ACCESS_TOKEN = os.environ["SB_ACCESS_TOKEN"]
PHONE_NUMBER_ID = os.environ["SB_PHONE_NUMBER_ID"]
WHATSAPP_SHA256 = os.environ["SB_WHATSAPP_SHA256"]
TIMEOUT = 15_000
AXE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "vendor", "axe.min.js")


def fixture(name, **replace):
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as f:
        text = f.read()
    for key, value in replace.items():
        text = text.replace(key, value)
    return text.encode()


def post_whatsapp(body):
    """POST a signed WhatsApp webhook, as Meta would."""
    signature = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    request = urllib.request.Request(
        f"{BASE}/webhooks/whatsapp", data=body, method="POST",
        headers={"Content-Type": "application/json", "X-Hub-Signature-256": signature},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200, response.status


def api(page, path):
    """GET an API path with the page's own session token (as a provider-side check)."""
    token = page.evaluate("() => JSON.parse(localStorage.getItem('switchboard.session')).token")
    request = urllib.request.Request(f"{BASE}/api/v1{path}", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def api_status(page, path):
    """The status a GET of `path` answers with the page's session token."""
    try:
        api(page, path)
        return 200
    except urllib.error.HTTPError as error:
        return error.code


def shot(page, name):
    if SHOTS:
        page.screenshot(path=os.path.join(SHOTS, f"{name}.png"))


def accessible(page, name):
    """Run axe-core on the page; fail on any serious or critical violation."""
    page.add_script_tag(path=AXE)
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    bad = [v for v in result["violations"] if v["impact"] in ("serious", "critical")]
    details = "; ".join(
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:4]}" for v in bad
    )
    assert not bad, f"accessibility of {name}: {details}"


def login(page, email):
    page.goto(BASE + "/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("region", name="Conversations")).to_be_visible(timeout=TIMEOUT)


def row(page, name):
    return page.locator(".row", has_text=name)


def installable(p):
    """Chromium's own check that the inbox installs as an app (manifest, icons, page), in a
    profile on disk: it refuses to judge in the incognito contexts tests otherwise use."""
    with tempfile.TemporaryDirectory() as profile:
        context = p.chromium.launch_persistent_context(profile, executable_path=CHROMIUM, args=["--no-sandbox"], headless=True)
        page = context.new_page()
        page.goto(BASE + "/")
        expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=TIMEOUT)
        cdp = context.new_cdp_session(page)
        errors = []
        for _ in range(20):
            errors = cdp.send("Page.getInstallabilityErrors")["installabilityErrors"]
            if not errors:
                break
            page.wait_for_timeout(250)
        context.close()
        assert errors == [], f"not installable: {errors}"


def main():
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        ana_context = browser.new_context(viewport={"width": 1360, "height": 860})
        page = ana_context.new_page()
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))

        # A wrong password is refused on the page, then the right one signs in.
        page.goto(BASE + "/")
        shot(page, "login-light")
        page.get_by_label("Email").fill(ANA)
        page.get_by_label("Password").fill("not the password")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("alert")).to_be_visible(timeout=TIMEOUT)
        expect(page.locator(".boot")).to_have_count(0)
        login(page, ANA)
        expect(page.get_by_role("navigation", name="Views and filters")).to_be_visible()
        installable(p)
        # From here on, any failed request or console error is a bug (the refused password
        # above was the only one expected).
        page.on("console", lambda message: message.type == "error" and errors.append(message.text))

        # The SMS conversation the test made is listed; a WhatsApp webhook arrives and appears
        # live, with its unread badge and channel mark, without a reload.
        expect(row(page, "+447700900555")).to_be_visible(timeout=TIMEOUT)
        post_whatsapp(fixture("whatsapp/text.json", **{"wamid.": "wamid.UI1"}))
        whatsapp = row(page, "José García")
        expect(whatsapp).to_be_visible(timeout=TIMEOUT)
        expect(whatsapp.locator(".badge")).to_have_text("1")
        expect(whatsapp.get_by_role("img", name="WhatsApp")).to_be_visible()
        expect(page).to_have_title("(2) Switchboard", timeout=TIMEOUT)
        # The newest conversation moved to the top, live.
        expect(page.locator(".row").first).to_contain_text("José García")

        # Open it and reply; the outbox sends it and its tick shows "sent".
        whatsapp.click()
        expect(page.locator(".message.inbound", has_text="pedido #12345")).to_be_visible(timeout=TIMEOUT)
        # The routing policy's decision is in the thread, with its reason.
        expect(page.locator(".activity-line", has_text="Routed as high by urgency: matched 'pedido'")).to_be_visible(timeout=TIMEOUT)
        expect(whatsapp.locator(".badge")).to_have_count(0, timeout=TIMEOUT)
        composer = page.get_by_label("Reply", exact=True)
        composer.fill("Olá José! Vou verificar o pedido agora.")
        page.get_by_role("button", name="Send", exact=True).click()
        outbound = page.locator(".message.outbound", has_text="Vou verificar")
        expect(outbound.locator(".ticks")).to_have_attribute("data-status", "sent", timeout=TIMEOUT)

        # The provider reports delivery: the tick advances live.
        conversation_id = int(whatsapp.get_attribute("data-conversation"))
        messages = api(page, f"/conversations/{conversation_id}/messages")["items"]
        wamid = next(m["external_id"] for m in messages if m["direction"] == "outbound")
        post_whatsapp(fixture("whatsapp/status_delivered.json", **{"{{WAMID}}": wamid}))
        expect(outbound.locator(".ticks")).to_have_attribute("data-status", "delivered", timeout=TIMEOUT)
        shot(page, "thread-light")

        # A private note: styled apart, and never sent (the test checks the fake afterwards).
        page.get_by_role("tab", name="Private note").click()
        page.get_by_label("Private note", exact=True).fill(NOTE)
        page.get_by_role("button", name="Add note").click()
        expect(page.locator(".note", has_text=NOTE)).to_be_visible(timeout=TIMEOUT)

        # WhatsApp sends templates, so the composer offers one (the fake checks what arrived).
        outbound_before = page.locator(".message.outbound").count()
        page.get_by_role("tab", name="Template").click()
        page.get_by_label("Template to send").select_option(label="order_update · en_US")
        page.get_by_label("Parameter {{1}}").fill("José")
        page.get_by_label("Parameter {{2}}").fill("#12345")
        expect(page.get_by_label("Template preview")).to_have_text("Hi José, order #12345 has shipped.")
        page.get_by_role("button", name="Send template").click()
        expect(page.locator(".message.outbound")).to_have_count(outbound_before + 1, timeout=TIMEOUT)
        page.get_by_role("tab", name="Reply").click()

        # Canned responses open on "/", filled for this contact.
        composer.fill("/than")
        expect(page.get_by_role("listbox", name="Canned responses")).to_be_visible(timeout=TIMEOUT)
        shot(page, "composer-canned-light")
        composer.press("Enter")
        expect(composer).to_have_value("Thanks José, Ana here.", timeout=TIMEOUT)
        composer.fill("")

        # The contact panel: identities on every channel.
        page.get_by_role("button", name="Contact").click()
        expect(page.get_by_role("complementary", name="Contact")).to_contain_text("16505551234", timeout=TIMEOUT)
        timeline = page.get_by_role("list", name="Every message, every channel")
        expect(timeline.locator("li")).to_have_count(3, timeout=TIMEOUT)  # the message, the reply, the template
        expect(timeline).to_contain_text("pedido #12345")
        shot(page, "contact-light")
        page.get_by_role("button", name="Close the contact panel").click()
        expect(page.get_by_role("complementary", name="Contact")).to_have_count(0)

        # A label, then the list filtered by it.
        page.get_by_label("Add a label").fill("Refund")
        page.get_by_label("Add a label").press("Enter")
        expect(page.locator(".label", has_text="refund")).to_be_visible(timeout=TIMEOUT)
        page.get_by_label("Label", exact=True).fill("refund")
        page.get_by_label("Label", exact=True).press("Enter")
        expect(row(page, "+447700900555")).to_have_count(0, timeout=TIMEOUT)
        expect(whatsapp).to_be_visible()
        page.get_by_label("Label", exact=True).fill("")
        page.get_by_label("Label", exact=True).press("Enter")
        expect(row(page, "+447700900555")).to_be_visible(timeout=TIMEOUT)

        # Filter by channel, then search by a phone fragment.
        page.get_by_label("Channel").select_option("whatsapp")
        expect(row(page, "+447700900555")).to_have_count(0, timeout=TIMEOUT)
        expect(whatsapp).to_be_visible()
        # Save these filters as a view; it comes back after a reload and applies in one click.
        page.get_by_role("button", name="+ Save current filters").click()
        page.get_by_label("View name").fill("WhatsApp only")
        page.get_by_role("button", name="Save view").click()
        saved = page.locator(".saved-views").get_by_role("button", name="WhatsApp only", exact=True)
        expect(saved).to_have_attribute("aria-current", "true", timeout=TIMEOUT)
        page.get_by_label("Channel").select_option("")
        expect(row(page, "+447700900555")).to_be_visible(timeout=TIMEOUT)
        expect(saved).to_have_attribute("aria-current", "false")
        page.reload()
        saved.click()
        expect(page.get_by_label("Channel")).to_have_value("whatsapp")
        expect(row(page, "+447700900555")).to_have_count(0, timeout=TIMEOUT)
        expect(whatsapp).to_be_visible()
        assert [v["name"] for v in api(page, "/views")] == ["WhatsApp only"]
        page.get_by_role("button", name="Delete view WhatsApp only").click()
        expect(saved).to_have_count(0, timeout=TIMEOUT)
        assert api(page, "/views") == []
        page.get_by_label("Channel").select_option("")
        expect(row(page, "+447700900555")).to_be_visible(timeout=TIMEOUT)
        page.get_by_label("Search conversations").fill("0900 555")
        expect(whatsapp).to_have_count(0, timeout=TIMEOUT)
        expect(row(page, "+447700900555")).to_be_visible()
        page.get_by_label("Search conversations").fill("5551234")
        expect(row(page, "+447700900555")).to_have_count(0, timeout=TIMEOUT)
        expect(whatsapp).to_be_visible()
        # A new message in a search result updates it where it is.
        post_whatsapp(fixture("whatsapp/text.json", **{"wamid.": "wamid.UI2", "pedido #12345": "pedido #12345, e o outro?"}))
        expect(whatsapp.locator(".preview")).to_contain_text("e o outro?", timeout=TIMEOUT)
        expect(whatsapp).to_be_visible()
        page.get_by_label("Search conversations").fill("")
        expect(row(page, "+447700900555")).to_be_visible(timeout=TIMEOUT)
        shot(page, "inbox-light")

        # Drafts: typed in A, kept across switching and a reload, never shown in B.
        whatsapp.click()
        composer.fill("draft for José, not sent")
        row(page, "+447700900555").click()
        expect(page.locator(".message.inbound", has_text="same person")).to_be_visible(timeout=TIMEOUT)
        expect(page.get_by_label("Reply", exact=True)).to_have_value("")
        whatsapp.click()
        expect(page.get_by_label("Reply", exact=True)).to_have_value("draft for José, not sent", timeout=TIMEOUT)
        page.reload()
        expect(row(page, "José García")).to_be_visible(timeout=TIMEOUT)
        row(page, "José García").click()
        expect(page.get_by_label("Reply", exact=True)).to_have_value("draft for José, not sent", timeout=TIMEOUT)
        row(page, "+447700900555").click()
        expect(page.locator(".message.inbound", has_text="same person")).to_be_visible(timeout=TIMEOUT)
        expect(page.get_by_label("Reply", exact=True)).to_have_value("")

        # Two agents: each sees the other viewing, then typing.
        bo_context = browser.new_context(viewport={"width": 1360, "height": 860})
        bo = bo_context.new_page()
        login(bo, BO)
        row(page, "José García").click()
        row(bo, "José García").click()
        expect(page.locator(".presence-agent.viewing", has_text=NAME_B)).to_be_visible(timeout=TIMEOUT)
        expect(bo.locator(".presence-agent", has_text=NAME_A)).to_be_visible(timeout=TIMEOUT)
        bo.get_by_label("Reply", exact=True).press_sequentially("checking", delay=20)
        expect(page.locator(".presence-agent.typing", has_text=NAME_B)).to_be_visible(timeout=TIMEOUT)
        # Ana keeps writing her draft; Bo sends first: Ana is warned before hers goes.
        page.get_by_label("Reply", exact=True).press_sequentially(" — on it", delay=10)
        bo.get_by_label("Reply", exact=True).fill("Bo here, I have this one.")
        bo.get_by_role("button", name="Send", exact=True).click()
        expect(page.locator(".message.outbound", has_text="Bo here")).to_be_visible(timeout=TIMEOUT)
        page.get_by_role("button", name="Send", exact=True).click()
        warning = page.get_by_role("alert").filter(has_text="replied while you were typing")
        expect(warning).to_be_visible(timeout=TIMEOUT)
        page.get_by_role("button", name="Cancel").click()
        expect(warning).to_have_count(0)
        expect(page.locator(".message.outbound", has_text="on it")).to_have_count(0)
        bo_context.close()

        # Accessibility (axe-core, injected, so this context lets scripts past the page's CSP):
        # the login page, the inbox, and a thread with its composer, in both themes.
        for scheme in ("light", "dark"):
            checked = browser.new_context(viewport={"width": 1360, "height": 860}, bypass_csp=True, color_scheme=scheme)
            a11y = checked.new_page()
            a11y.goto(BASE + "/")
            expect(a11y.get_by_label("Email")).to_be_visible(timeout=TIMEOUT)
            accessible(a11y, f"the login page ({scheme})")
            login(a11y, ANA)
            expect(row(a11y, "José García")).to_be_visible(timeout=TIMEOUT)
            expect(a11y.locator(".view .count").first).to_be_visible(timeout=TIMEOUT)
            accessible(a11y, f"the inbox ({scheme})")
            row(a11y, "José García").click()
            expect(a11y.locator(".note", has_text=NOTE)).to_be_visible(timeout=TIMEOUT)
            accessible(a11y, f"a thread ({scheme})")
            checked.close()

        # Admin pages: only admins see them, and the API refuses agents whatever the page does.
        expect(page.get_by_role("button", name="Channels")).to_have_count(0)
        page.goto(BASE + "/#/admin/channels")
        expect(page.get_by_text("Only admins can open this page.")).to_be_visible(timeout=TIMEOUT)
        assert api_status(page, "/agents") == 403
        assert api_status(page, "/channels/whatsapp") == 403
        page.goto(BASE + "/#/admin/channels/whatsapp")
        expect(page.get_by_text("Only admins can open this page.")).to_be_visible(timeout=TIMEOUT)
        expect(page.get_by_role("button", name="Test connection")).to_have_count(0)
        page.goto(BASE + "/")
        expect(row(page, "José García")).to_be_visible(timeout=TIMEOUT)
        admin_context = browser.new_context(viewport={"width": 1360, "height": 860})
        admin = admin_context.new_page()
        admin.on("pageerror", lambda error: errors.append(str(error)))
        login(admin, ADMIN)
        admin.get_by_role("button", name="Channels").click()
        webhook = admin.locator('[data-channel="whatsapp"]').get_by_label("Webhook URL to register with the provider")
        expect(webhook).to_have_value(f"{PUBLIC_URL}/webhooks/whatsapp", timeout=TIMEOUT)
        expect(admin.locator('[data-channel="sms"]').get_by_label("Webhook URL to register with the provider")).to_have_value(f"{PUBLIC_URL}/webhooks/sms")
        # A channel's page: setup steps from the plugin, where each secret comes from (never its
        # value), and the connection test through the plugin against the fake Graph API.
        admin.get_by_role("link", name="Set up and test whatsapp").click()
        expect(admin.get_by_role("heading", name="WhatsApp · whatsapp")).to_be_visible(timeout=TIMEOUT)
        expect(admin.get_by_label("Webhook URL to register with the provider")).to_have_value(f"{PUBLIC_URL}/webhooks/whatsapp")
        expect(admin.locator(".setup-steps li").first).to_contain_text("developer console")
        # Live status: the webhooks and the reply of the agents' session above.
        expect(admin.locator('[data-stat="last-webhook"]')).to_have_text("just now")
        expect(admin.locator('[data-stat="delivery"]')).to_contain_text("100%")
        expect(admin.locator('[data-setting="access_token"]')).to_contain_text("Set · written in config.toml")
        expect(admin.locator('[data-setting="phone_number_id"]')).to_contain_text(PHONE_NUMBER_ID)
        assert ACCESS_TOKEN not in admin.content(), "a secret's value never reaches the page"
        admin.get_by_role("button", name="Test connection").click()
        expect(admin.get_by_role("status")).to_contain_text("Connected to Switchboard Test Shop (+1 555-010-0000)", timeout=TIMEOUT)
        shot(admin, "channel-light")
        admin.emulate_media(color_scheme="dark")
        shot(admin, "channel-dark")
        admin.emulate_media(color_scheme="light")
        admin.goto(BASE + "/#/admin/channels/wa-wrong")
        expect(admin.get_by_role("heading", name="wa-wrong")).to_be_visible(timeout=TIMEOUT)
        expect(admin.locator('[data-setting="app_secret"]')).to_contain_text("Missing (environment variable SWITCHBOARD_TEST_NEVER_SET is empty or missing)")
        admin.get_by_role("button", name="Test connection").click()
        expect(admin.get_by_role("status")).to_contain_text("Failed (unauthorized, code 190): Invalid OAuth access token.", timeout=TIMEOUT)
        admin.get_by_role("link", name="All channels").click()
        # Plugins: each build by its file's hash, with its contract and what it serves.
        admin.get_by_role("button", name="Plugins").click()
        expect(admin.get_by_role("heading", name="Plugins")).to_be_visible(timeout=TIMEOUT)
        whatsapp_build = admin.locator('tr[data-plugin="whatsapp"][data-world="channel"]')
        expect(whatsapp_build.locator('[data-field="sha256"]')).to_contain_text(WHATSAPP_SHA256[:12], timeout=TIMEOUT)
        expect(whatsapp_build.locator('[data-field="sha256"] code')).to_have_attribute("title", WHATSAPP_SHA256)
        expect(whatsapp_build.locator('[data-field="wit"]')).to_have_text("switchboard:channel@0.2.0")
        expect(whatsapp_build.locator('[data-field="serves"]')).to_have_text("channels: wa-wrong, whatsapp")
        expect(admin.locator('tr[data-plugin="urgency"][data-world="router"] [data-field="serves"]')).to_have_text("policies: urgency")
        # Reload the WhatsApp plugin from its file (the same build: its hash stays), then roll back.
        admin.get_by_role("button", name="Reload whatsapp").click()
        plugins_page = admin.locator('section[aria-labelledby="plugins-title"]')
        expect(plugins_page.get_by_role("status")).to_contain_text(f"Reloaded whatsapp: build {WHATSAPP_SHA256[:12]} now serves wa-wrong, whatsapp", timeout=TIMEOUT)
        expect(whatsapp_build.locator('[data-field="last-reload"]')).to_have_text("reloaded just now", timeout=TIMEOUT)
        admin.get_by_role("button", name="Roll back whatsapp").click()
        expect(plugins_page.get_by_role("status")).to_contain_text("Rolled back whatsapp", timeout=TIMEOUT)
        expect(whatsapp_build.locator('[data-field="last-reload"]')).to_have_text("rolled back just now", timeout=TIMEOUT)
        assert admin.get_by_role("button", name="Reload urgency").count() == 0, "routing policies are not reloaded from here"
        admin.get_by_role("button", name="Agents").click()
        admin.get_by_label("Email").fill("dee@example.com")
        admin.get_by_label("Name", exact=True).fill("Dee")
        admin.get_by_label("Password (10 characters or more)").fill("another long password")
        admin.get_by_role("button", name="Create agent").click()
        expect(admin.get_by_role("cell", name="dee@example.com")).to_be_visible(timeout=TIMEOUT)
        admin.get_by_role("button", name="Teams").click()
        admin.get_by_label("Name", exact=True).fill("Returns")
        admin.get_by_role("button", name="Create team").click()
        expect(admin.get_by_role("heading", name="Returns")).to_be_visible(timeout=TIMEOUT)
        # The box ticks at once; wait for the membership to be saved before reloading the page.
        with admin.expect_response(lambda r: "/members/" in r.url and r.request.method == "PUT" and r.ok, timeout=TIMEOUT):
            admin.locator(".team-card", has_text="Returns").get_by_label("Dee").check()
        expect(admin.locator(".team-card", has_text="Returns").get_by_label("Dee")).to_be_checked(timeout=TIMEOUT)
        admin.reload()
        expect(admin.locator(".team-card", has_text="Returns").get_by_label("Dee")).to_be_checked(timeout=TIMEOUT)
        admin.get_by_role("button", name="Canned responses").click()
        admin.get_by_label("Shortcut").fill("/hours")
        admin.get_by_label("Text").fill("We answer from 9 to 18, {{contact.first_name}}.")
        admin.get_by_role("button", name="Save", exact=True).click()
        expect(admin.get_by_role("cell", name="/hours")).to_be_visible(timeout=TIMEOUT)
        # Merge the SMS customer into José by searching their phone, then undo it from the audit
        # log, which puts both back exactly as they were.
        admin.get_by_role("button", name="Back to the inbox").click()
        row(admin, "José García").click()
        admin.get_by_role("button", name="Contact").click()
        panel = admin.get_by_role("complementary", name="Contact")
        jose = api(admin, f"/conversations/{conversation_id}")["contact"]["id"]
        before = api(admin, f"/contacts/{jose}")
        panel.get_by_label("Find the contact to merge into this one").fill("0900 555")
        panel.get_by_role("list", name="Matching contacts").get_by_role("button", name="+447700900555").click()
        panel.get_by_role("group", name="Confirm the merge").get_by_role("button", name="Merge").click()
        expect(panel.get_by_role("status")).to_contain_text("Merged", timeout=TIMEOUT)
        expect(panel.locator(".identities li")).to_have_count(2)
        admin.get_by_role("button", name="Audit log").click()
        merged_row = admin.locator("tr", has_text="Merged contacts")
        expect(merged_row).to_be_visible(timeout=TIMEOUT)
        shot(admin, "audit-light")
        merged_row.get_by_role("button", name=re.compile(r"^Undo merge \d+$")).click()
        expect(admin.locator("tr", has_text="Undid a merge")).to_be_visible(timeout=TIMEOUT)
        expect(admin.get_by_role("button", name=re.compile(r"^Undo merge"))).to_have_count(0)
        assert api(admin, f"/contacts/{jose}") == before, "the undo restored the contact exactly"

        # The routing chain, as config.toml sets it, on its admin page.
        admin.get_by_role("button", name="Routing").click()
        policy = admin.locator(".policy-card", has_text="urgency")
        expect(policy).to_be_visible(timeout=TIMEOUT)
        expect(policy).to_contain_text("switchboard:router@0.1.0")
        admin_context.close()
        # axe-core on a channel page, in a context that lets its script in (the CSP keeps
        # inline scripts out everywhere else).
        checked = browser.new_context(viewport={"width": 1360, "height": 860}, bypass_csp=True)
        audited = checked.new_page()
        login(audited, ADMIN)
        audited.goto(BASE + "/#/admin/channels/whatsapp")
        expect(audited.get_by_role("button", name="Test connection")).to_be_visible(timeout=TIMEOUT)
        accessible(audited, "a channel page")
        audited.goto(BASE + "/#/admin/routing")
        expect(audited.locator(".policy-card", has_text="urgency")).to_be_visible(timeout=TIMEOUT)
        accessible(audited, "the routing page")
        checked.close()
        teams = api(page, "/teams")
        assert any(t["name"] == "Returns" and len(t["members"]) == 1 for t in teams), teams

        # Assign to another agent from the directory: the activity line names both.
        row(page, "José García").click()
        bo_id = next(a["id"] for a in api(page, "/agents/directory") if a["display_name"] == NAME_B)
        expect(page.get_by_label("Assignee").locator(f'option[value="{bo_id}"]')).to_contain_text(NAME_B)
        page.get_by_label("Assignee").select_option(str(bo_id))
        expect(page.locator(".activity-line", has_text=f"assigned to {NAME_B} by {NAME_A}")).to_be_visible(timeout=TIMEOUT)
        assert api(page, f"/conversations/{conversation_id}")["assignee_id"] == bo_id

        # Resolve with `e`: it leaves the open list.
        page.get_by_label("Reply", exact=True).fill("")
        page.locator(".thread-body").click()
        page.keyboard.press("e")
        expect(row(page, "José García")).to_have_count(0, timeout=TIMEOUT)
        assert api(page, f"/conversations/{conversation_id}")["status"] == "resolved"

        # Dark theme and phone width, for the screenshots.
        if SHOTS:
            page.get_by_label("Status").select_option("resolved")
            row(page, "José García").click()
            dark = browser.new_context(viewport={"width": 1360, "height": 860}, color_scheme="dark")
            dark_page = dark.new_page()
            login(dark_page, ANA)
            expect(dark_page.locator(".view .count").first).to_be_visible(timeout=TIMEOUT)
            shot(dark_page, "inbox-dark")
            row(dark_page, "+447700900555").click()
            expect(dark_page.locator(".message.inbound", has_text="same person")).to_be_visible(timeout=TIMEOUT)
            shot(dark_page, "thread-dark")
            phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
            phone_page = phone.new_page()
            login(phone_page, ANA)
            shot(phone_page, "inbox-phone")
            row(phone_page, "+447700900555").click()
            expect(phone_page.get_by_role("button", name="Back to the list")).to_be_visible(timeout=TIMEOUT)
            shot(phone_page, "thread-phone")
            phone_page.get_by_role("button", name="Back to the list").click()
            expect(row(phone_page, "+447700900555")).to_be_visible(timeout=TIMEOUT)

        assert not errors, f"errors in the page: {errors}"
        browser.close()
    print("inbox: all browser checks passed")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as error:
        print(f"inbox: {error}", file=sys.stderr)
        raise
