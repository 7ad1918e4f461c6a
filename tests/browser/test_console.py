"""The agents' console as municipal staff use it, in chromium against `civicchat run`.

A resident asks for a person about a payment; the routing rule sends the conversation to the
finance team, where it appears in the finance agent's inbox without a reload. She answers with
text, a quick reply and a photo (all reach the resident's phone), writes a note (which never
does), and transfers it to public works, whose agent resolves it (the resident is asked to rate
the help). Also: sign-in and
session expiry, search and keyboard shortcuts, the supervisor's dashboard and its CSV, Arabic
right to left, and the phone-sized layout. Screenshots go to build/screenshots/."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e

STRINGS = json.loads(
    (Path(__file__).resolve().parents[2] / "chalicelib" / "console" / "i18n.json").read_text(
        encoding="utf-8"
    )
)
EN, AR = STRINGS["en"], STRINGS["ar"]
ARRIVAL = 20_000  # ms: the inbox polls every 5 s
PNG = bytes.fromhex(  # 1×1
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63f8cfc0f01f0005000201a5d6b3e2"
    "0000000049454e44ae426082"
)


def text_of(body: dict[str, Any]) -> str:
    if body["type"] == "text":
        return body["text"]["body"]
    if body["type"] == "interactive":
        return body["interactive"]["body"]["text"]
    return ""


def inbox_row(page: Any, name: str) -> Any:
    return page.locator(".row", has_text=name)


def no_horizontal_scroll(page: Any) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def when(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


def set_hidden(page: Any, hidden: bool) -> None:
    """The tab goes to the background (or comes back), as far as the page can tell."""
    page.evaluate(
        """(hidden) => {
            for (const [name, value] of [["hidden", hidden], ["visibilityState", hidden ? "hidden" : "visible"]])
                Object.defineProperty(document, name, { configurable: true, get: () => value });
            document.dispatchEvent(new Event("visibilitychange"));
        }""",
        hidden,
    )


def test_a_wrong_password_keeps_the_console_closed(console: Any, agents: Any) -> None:
    page = console.open()
    expect(page.locator("#signin-page")).to_be_visible()
    page.fill("#signin-email", agents.finance)
    page.fill("#signin-password", "not-the-password")
    page.click("#signin-form button[type=submit]")
    expect(page.locator("#signin-notice")).to_have_text(EN["signin_failed"])
    expect(page.locator("#shell")).to_be_hidden()


def test_a_payment_question_is_answered_by_finance_transferred_and_resolved(
    console: Any, agents: Any, new_resident: Any, town: Any
) -> None:
    ana = console.signed_in(agents.finance)
    ana.click("#tab-unassigned")
    expect(ana.locator("#team-select")).to_have_value("finance")
    ana.evaluate("window.sameDocument = true")  # gone if anything reloads the page

    # The routing rule ("pagamento" → finance) puts it in the finance queue.
    maria = new_resident("Maria Silva")
    maria.ask_for_a_person("Tenho uma dúvida sobre o pagamento da taxa de água")
    row = inbox_row(ana, "Maria Silva")
    expect(row).to_be_visible(timeout=ARRIVAL)
    assert ana.evaluate("window.sameDocument") is True
    expect(ana.locator("#user-menu summary")).to_have_accessible_name(
        re.compile(f"^{agents.NAMES[agents.finance]}.*{EN['account_menu']}")
    )

    # The next poll redraws the rows; keyboard focus stays on the same conversation.
    row.focus()
    ana.evaluate("document.activeElement.dataset.drawnBefore = 'yes'")
    ana.wait_for_function(
        "() => !document.querySelector('.row[data-drawn-before]')", timeout=ARRIVAL
    )
    expect(row).to_be_focused()
    expect(row.locator(".sla")).to_have_class(re.compile(r"\bsla-(ok|warning|breached)\b"))
    expect(row.locator(".sla")).to_have_attribute(
        "aria-label", re.compile(EN["sla_first_response"])
    )
    console.screenshot(ana, "inbox")

    row.click()
    expect(ana.locator("#conversation-name")).to_have_text("Maria Silva")
    expect(ana.locator("#timeline-items")).to_contain_text("pagamento da taxa de água")
    expect(ana.locator("#profile-facts")).to_contain_text(f"+{maria.wa_id}")
    expect(ana.locator("#profile-facts")).to_contain_text(EN["consent_given"])
    ana.click("#action-take")
    expect(ana.locator("#conversation-meta")).to_contain_text(EN["status_assigned_to_you"])
    expect(ana.locator("#action-take")).to_be_hidden()
    expect(ana.locator("#conversation-name")).to_be_focused()  # not lost with its button

    # Polls ask again for the last two minutes (WhatsApp's timestamps may arrive late)...
    taken = EN["event_taken"].format(actor=agents.NAMES[agents.finance])
    expect(ana.locator("#timeline-items .event", has_text=taken)).to_be_visible()
    with ana.expect_request(re.compile(r"/messages\?after="), timeout=ARRIVAL) as polled:
        pass
    [after] = parse_qs(urlsplit(polled.value.url).query)["after"]
    shown = ana.locator("#timeline-items time[datetime]").evaluate_all(
        "nodes => nodes.map((node) => node.getAttribute('datetime'))"
    )
    newest = max(when(iso) for iso in shown)
    assert abs(when(after) - (newest - timedelta(minutes=2))) < timedelta(milliseconds=1)

    # ...and keep what they drew: a new message from Maria is added and announced once, the
    # earlier ones stay the same elements (a voice note playing would keep playing).
    ana.evaluate("window.firstMessage = document.querySelector('#timeline-items .msg-in')")
    maria.say(type="text", text="Já agora, o contador é o número 4411.")
    expect(ana.locator(".msg-in", has_text="contador é o número 4411")).to_be_visible(
        timeout=ARRIVAL
    )
    expect(ana.locator("#announcer")).to_have_text(
        EN["new_message_from"].format(
            name="Maria Silva", text="Já agora, o contador é o número 4411."
        )
    )
    assert ana.evaluate("window.firstMessage === document.querySelector('#timeline-items .msg-in')")

    # A reply reaches the resident's phone.
    reply = "Bom dia, Maria. Vou verificar o seu pagamento."
    ana.fill("#composer-text", reply)
    ana.press("#composer-text", "Enter")
    expect(ana.locator(".msg-out", has_text=reply)).to_be_visible()
    assert [text_of(body) for body in maria.wait_for_messages()] == [reply]

    # A note stays in the town hall.
    note = "Confirmar com a tesouraria antes de fechar."
    ana.click("label.mode-note")
    expect(ana.locator("#note-banner")).to_be_visible()
    ana.fill("#composer-text", note)
    ana.press("#composer-text", "Enter")
    expect(ana.locator(".msg-note", has_text=note)).to_be_visible()

    # A quick reply, in the resident's language; it is sent after the note, so once it has
    # arrived the note would have too.
    ana.click("label.mode:not(.mode-note)")
    ana.locator("#composer-text").press_sequentially("/hor")
    expect(ana.locator("#quick-replies .quick-reply")).to_have_count(1)
    ana.press("#composer-text", "Tab")
    hours = town.quick_replies[0].text["pt"]
    expect(ana.locator("#composer-text")).to_have_value(hours)
    ana.press("#composer-text", "Enter")
    assert [text_of(body) for body in maria.wait_for_messages()] == [hours]

    # A file over 4 MB is refused before it is read (Lambda would refuse the request).
    ana.set_input_files(
        "#attach-input",
        files=[
            {
                "name": "big.pdf",
                "mimeType": "application/pdf",
                "buffer": b"%" * (4 * 1024 * 1024 + 1),
            }
        ],
    )
    expect(ana.locator("#toasts")).to_contain_text(EN["file_too_big"])
    expect(ana.locator("#attachment-chip")).to_be_hidden()

    # A file, with a caption.
    ana.set_input_files(
        "#attach-input", files=[{"name": "recibo.png", "mimeType": "image/png", "buffer": PNG}]
    )
    expect(ana.locator("#attachment-chip")).to_contain_text("recibo.png")
    ana.fill("#composer-text", "O seu recibo")
    ana.press("#composer-text", "Enter")
    expect(ana.locator(".msg-out img")).to_have_attribute("src", re.compile(r"^https?://"))
    [image] = maria.wait_for_messages()
    assert image["type"] == "image"
    assert image["image"]["caption"] == "O seu recibo"
    assert note not in json.dumps(maria.everything_received(), ensure_ascii=False)
    console.screenshot(ana, "conversation")

    # Transferred to public works with a word for them: it leaves Ana's view and appears in
    # Joana's queue without a reload.
    joana = console.signed_in(agents.public_works)
    joana.click("#tab-unassigned")
    ana.click("#tab-mine")  # hers now: in Mine (Unassigned no longer lists it)
    expect(inbox_row(ana, "Maria Silva")).to_be_visible()
    ana.click("#action-transfer")
    ana.select_option("#transfer-team", "public_works")
    ana.fill("#transfer-note", "O contador está avariado: é convosco.")
    ana.click("#transfer-dialog button[type=submit]")
    expect(ana.locator("#conversation")).to_be_hidden()
    expect(inbox_row(ana, "Maria Silva")).to_have_count(0)

    row = inbox_row(joana, "Maria Silva")
    expect(row).to_be_visible(timeout=ARRIVAL)
    row.click()
    expect(joana.locator(".msg-note", has_text="O contador está avariado")).to_be_visible()
    public_works = town.teams["public_works"].name
    transferred = EN["event_transferred"].format(
        actor=agents.NAMES[agents.finance], team=public_works
    )
    expect(joana.locator("#timeline-items .event", has_text=transferred)).to_be_visible()

    # Resolved: the resident is asked to rate the help.
    joana.click("#action-resolve")
    expect(joana.locator("#action-reopen")).to_be_visible()
    expect(joana.locator("#composer")).to_be_hidden()
    expect(joana.locator("#conversation-name")).to_be_focused()
    [question] = maria.wait_for_messages()
    assert text_of(question) == town.csat.question["pt"]

    joana.click("#action-reopen")
    expect(joana.locator("#action-resolve")).to_be_visible()
    expect(joana.locator("#conversation-name")).to_be_focused()


def test_a_supervisor_finds_a_resident_works_by_keyboard_and_reads_the_dashboard(
    console: Any, agents: Any, new_resident: Any
) -> None:
    carlos = new_resident("Carlos Pérez", country="34")
    carlos.ask_for_a_person("Tengo una pregunta sobre un pago")
    rui = console.signed_in(agents.supervisor)

    # Search by phone number, then keyboard only: take it (a), resolve it (e).
    rui.fill("#search-input", carlos.wa_id)
    row = inbox_row(rui, "Carlos Pérez")
    expect(row).to_be_visible()
    expect(rui.locator("#search-summary")).to_be_visible()
    row.focus()
    rui.keyboard.press("Enter")
    expect(rui.locator("#conversation-name")).to_have_text("Carlos Pérez")
    open_at = rui.evaluate("location.hash")

    # "Skip to content" goes to the content, not to "#main" (which the router reads as the inbox).
    rui.focus("#skip-link")
    rui.keyboard.press("Enter")
    expect(rui.locator("#main")).to_be_focused()
    assert rui.evaluate("location.hash") == open_at
    expect(rui.locator("#conversation")).to_be_visible()

    rui.locator("#timeline").focus()
    rui.keyboard.press("a")
    expect(rui.locator("#conversation-meta")).to_contain_text(EN["status_assigned_to_you"])
    rui.keyboard.press("e")  # one key does not end a conversation: it asks first
    expect(rui.locator("#resolve-dialog")).to_be_visible()
    rui.keyboard.press("Escape")
    expect(rui.locator("#resolve-dialog")).to_be_hidden()
    expect(rui.locator("#action-resolve")).to_be_visible()
    rui.keyboard.press("e")
    expect(rui.locator("#resolve-dialog button[type=submit]")).to_be_focused()
    rui.keyboard.press("Enter")
    expect(rui.locator("#action-reopen")).to_be_visible()
    rui.keyboard.press("?")
    expect(rui.locator("#shortcuts-dialog")).to_be_visible()
    rui.keyboard.press("Escape")
    expect(rui.locator("#shortcuts-dialog")).to_be_hidden()

    # Single-key shortcuts can be turned off (WCAG 2.1.4), and that is remembered.
    rui.click("#user-menu summary")
    rui.uncheck("#shortcuts-toggle")
    console.screenshot(rui, "account-menu")
    rui.keyboard.press("Escape")
    rui.locator("#timeline").focus()
    rui.keyboard.press("?")
    rui.keyboard.press("/")
    rui.wait_for_timeout(300)
    expect(rui.locator("#shortcuts-dialog")).to_be_hidden()
    expect(rui.locator("#search-input")).not_to_be_focused()
    expect(rui.locator("#action-take")).not_to_have_attribute("aria-keyshortcuts", "a")
    rui.reload()
    expect(rui.locator("#shell")).to_be_visible()
    expect(rui.locator("#shortcuts-toggle")).not_to_be_checked()
    rui.click("#user-menu summary")
    rui.check("#shortcuts-toggle")
    rui.keyboard.press("Escape")
    rui.locator("#timeline").focus()
    rui.keyboard.press("?")
    expect(rui.locator("#shortcuts-dialog")).to_be_visible()
    rui.keyboard.press("Escape")

    # The dashboard: this week's numbers, charts, tables and the CSV.
    rui.click('[data-nav="dashboard"]')
    expect(rui.locator("#dashboard-page")).to_be_visible()
    resolved = rui.locator(".kpi", has_text=EN["kpi_resolved"]).locator(".kpi-value")
    expect(resolved).to_have_text(re.compile(r"^[1-9]\d*$"))
    expect(rui.locator(".chart svg")).to_have_count(2)
    per_agent = rui.locator(".report-table", has_text=EN["per_agent"])
    expect(per_agent).to_contain_text(agents.NAMES[agents.supervisor])
    console.screenshot(rui, "dashboard")
    with rui.expect_download() as download:
        rui.click("#report-csv")
    lines = Path(download.value.path()).read_text(encoding="utf-8").splitlines()
    assert lines[0] == "totals"
    assert download.value.suggested_filename.endswith(".csv")


def test_arabic_turns_the_console_right_to_left_and_is_remembered(
    console: Any, agents: Any, new_resident: Any, town: Any
) -> None:
    youssef = new_resident("يوسف", country="212")
    youssef.ask_for_a_person("عندي سؤال عن رخصة البناء", hello="مرحبا")  # routed by language
    page = console.signed_in(agents.supervisor)
    html = page.locator("html")
    expect(html).to_have_attribute("dir", "ltr")

    page.click("#user-menu summary")
    page.select_option("#language-select", "ar")
    expect(html).to_have_attribute("dir", "rtl")
    expect(html).to_have_attribute("lang", "ar")
    expect(page.locator("#tab-unassigned")).to_have_text(AR["view_unassigned"])
    expect(page.locator("#presence-label")).to_have_text(AR["away"])
    page.keyboard.press("Escape")

    page.fill("#search-input", youssef.wa_id)
    inbox_row(page, "يوسف").click()
    expect(page.locator("#timeline-items")).to_contain_text("رخصة البناء")
    expect(page.locator("#conversation-meta")).to_contain_text(town.teams["front_desk"].name)
    expect(page.locator("#action-take")).to_have_text(AR["assign_to_me"])
    console.screenshot(page, "conversation-ar")

    page.reload()
    expect(page.locator("#shell")).to_be_visible()
    expect(html).to_have_attribute("dir", "rtl")

    page.click("#user-menu summary")
    page.select_option("#language-select", "pt")
    expect(html).to_have_attribute("dir", "ltr")
    expect(page.locator("#tab-mine")).to_have_text(STRINGS["pt"]["view_mine"])


def test_an_expired_session_is_refreshed_and_a_dead_one_returns_to_sign_in(
    console: Any, agents: Any
) -> None:
    page = console.signed_in(agents.finance)
    key = "civicchat.console.tokens"

    spoil = """([key, refresh]) => {
        const tokens = JSON.parse(sessionStorage.getItem(key));
        const [header, claims] = tokens.id_token.split(".");
        tokens.id_token = `${header}.${claims}.not-the-signature`;
        if (refresh) tokens.refresh_token = refresh;
        sessionStorage.setItem(key, JSON.stringify(tokens));
    }"""

    # The ID token is refused: the refresh token gets a new one, quietly.
    page.evaluate(spoil, [key, None])
    page.reload()
    expect(page.locator("#shell")).to_be_visible()
    expect(page.locator("#me-name")).to_have_text(agents.NAMES[agents.finance])

    # Both are refused: back to sign-in, saying why.
    page.evaluate(spoil, [key, "revoked"])
    page.reload()
    expect(page.locator("#signin-notice")).to_have_text(EN["session_expired"])
    expect(page.locator("#shell")).to_be_hidden()


def test_on_a_phone_the_inbox_comes_first_then_the_conversation(
    console: Any, agents: Any, new_resident: Any
) -> None:
    ines = new_resident("Inês Duarte")
    ines.ask_for_a_person("Tenho uma questão sobre o pagamento do IMI")
    page = console.signed_in(agents.finance, viewport={"width": 375, "height": 740})
    page.click("#tab-unassigned")
    row = inbox_row(page, "Inês Duarte")
    expect(row).to_be_visible(timeout=ARRIVAL)
    expect(page.locator(".conversation-pane")).to_be_hidden()
    assert no_horizontal_scroll(page)
    console.screenshot(page, "inbox-mobile")

    row.click()
    expect(page.locator(".inbox-pane")).to_be_hidden()
    expect(page.locator("#conversation-name")).to_have_text("Inês Duarte")
    expect(page.locator("#composer-text")).to_be_visible()
    expect(page.locator("#action-resolve")).to_be_in_viewport()
    assert no_horizontal_scroll(page)
    console.screenshot(page, "conversation-mobile")

    page.click("#details-button")
    expect(page.locator("#profile-pane")).to_be_in_viewport()
    page.click("#profile-close")
    page.click("#back-button")
    expect(page.locator(".inbox-pane")).to_be_visible()
    expect(page.locator(".conversation-pane")).to_be_hidden()


def test_a_hidden_tab_keeps_the_agent_seen_and_says_when_they_were_set_away(
    console: Any, agents: Any
) -> None:
    """Hidden, the console stops polling but asks the server something once a minute (the
    server sets agents unseen for 3 minutes away); back in view it re-reads the agent and says
    when they were set away meanwhile."""
    page = console.signed_in(agents.public_works, clock=True)
    presence = page.locator("#presence-button")
    page.click("#presence-button")
    expect(presence).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#presence-label")).to_have_text(EN["available"])

    requests_made: list[str] = []
    page.on("request", lambda request: requests_made.append(request.url))
    set_hidden(page, True)
    page.wait_for_timeout(200)  # a poll already under way may finish
    requests_made.clear()
    page.clock.run_for(55_000)  # eleven polls' worth: none while hidden
    page.wait_for_timeout(200)
    assert [url for url in requests_made if "/console/api/" in url] == []

    with page.expect_request(
        lambda request: request.url.endswith("/console/api/me") and request.method == "GET"
    ):
        page.clock.run_for(6_000)  # a minute hidden: the heartbeat
    assert [url for url in requests_made if "/console/api/inbox" in url] == []

    # Meanwhile the server (or a colleague) sets them away.
    away = console.api(page, "POST", "/me/presence", {"online": False})
    assert away.status_code == 200, away.text

    set_hidden(page, False)
    expect(page.locator("#toasts")).to_contain_text(EN["presence_lost"])
    expect(presence).to_have_attribute("aria-pressed", "false")
    expect(page.locator("#presence-label")).to_have_text(EN["away"])


def test_a_refused_action_is_explained_in_the_agents_language_only(
    console: Any, agents: Any, new_resident: Any
) -> None:
    """The server's reasons are English: the console shows its own sentence for the refusal,
    without the server's text after it."""
    luis = new_resident("Luís Mota")
    luis.ask_for_a_person("Queria saber do pagamento da fatura da água")
    page = console.signed_in(agents.finance, clock=True)
    page.click("#tab-unassigned")
    inbox_row(page, "Luís Mota").click(timeout=ARRIVAL)
    expect(page.locator("#conversation-name")).to_have_text("Luís Mota")
    conversation_id = page.evaluate("location.hash").removeprefix("#/c/")

    # Time stops in the page (no poll will notice) while a colleague resolves it.
    page.clock.pause_at(page.evaluate("Date.now()") / 1000 + 1)
    page.wait_for_timeout(1000)  # a request already under way comes back
    resolved = console.api(page, "POST", f"/conversations/{conversation_id}/resolve")
    assert resolved.status_code == 200, resolved.text
    page.fill("#composer-text", "Bom dia, Luís.")
    page.press("#composer-text", "Enter")
    expect(page.locator(".toast-error")).to_have_text(EN["error_resolved"])


def test_signing_out_takes_the_agent_off_the_rota(console: Any, agents: Any) -> None:
    joana = console.signed_in(agents.public_works)
    rui = console.signed_in(agents.supervisor)
    joana.click("#presence-button")
    expect(joana.locator("#presence-button")).to_have_attribute("aria-pressed", "true")

    def online() -> bool:
        colleagues = console.api(rui, "GET", "/me").json()["agents"]
        return next(a for a in colleagues if a["id"] == agents.public_works)["online"]

    assert online()
    joana.click("#user-menu summary")
    joana.click("#sign-out-button")

    expect(joana.locator("#signin-notice")).to_have_text(EN["signed_out"])
    expect(joana.locator("#shell")).to_be_hidden()
    assert joana.evaluate("sessionStorage.getItem('civicchat.console.tokens')") is None
    assert not online()
