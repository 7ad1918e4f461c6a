"""What supervisors do beyond the inbox, in chromium against `civicchat run`: a broadcast to the
residents subscribed to a topic (live audience and cost, confirmation, progress polled to the
final report), a resident's data exported and erased from their conversation (the typed phone
number confirms), and the audit log that says who did it. Agents see none of it.

Residents subscribe the way they do on WhatsApp: consent, the topics keyword, a tap on a topic.
Screenshots go to build/screenshots/."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e

STRINGS = json.loads(
    (Path(__file__).resolve().parents[2] / "chalicelib" / "console" / "i18n.json").read_text(
        encoding="utf-8"
    )
)
EN = STRINGS["en"]
ARRIVAL = 20_000  # ms: the inbox polls every 5 s
# The broadcast job runs every minute (a "send now" takes its first step at once); the last
# run after the messages are delivered completes the broadcast with its report.
COMPLETION = 150_000
TOPIC = "roadworks"  # no other browser test subscribes anyone to it
TEMPLATE = "town_news"  # utility, one parameter, every language
MARKETING = "summer_festival"  # marketing: refused unless the town allows it
PRICE = 0.03  # EUR per delivered utility template (example-town.yaml)


def subscribe(phone: Any, topic: str, *, hello: str = "Olá, bom dia") -> None:
    """Consent, the topics list (keyword "avisos"), a tap on the topic."""
    phone.send(type="text", text=hello)
    phone.send(type="button_reply", reply_id="consent:accept")
    phone.send(type="text", text="avisos")
    phone.send(type="list_reply", reply_id=f"subscribe:{topic}")


def kpi(page: Any, key: str) -> Any:
    return page.locator(f'#broadcast-report .kpi[data-key="{key}"] .kpi-value')


def euros(amount: float) -> str:
    return f"€{amount:.2f}"  # en-GB, as the test browser's console shows money


def test_a_supervisor_broadcasts_to_a_topics_subscribers_and_reads_the_report(
    console: Any, agents: Any, new_resident: Any, stack: Any
) -> None:
    subscribers = [new_resident(name) for name in ("Rita Alves", "Nuno Pires", "Sara Lopes")]
    for phone in subscribers:
        subscribe(phone, TOPIC)
    other = new_resident("Paulo Reis")  # another topic only: not in the audience
    subscribe(other, "culture")

    rui = console.signed_in(agents.supervisor)
    rui.click('[data-nav="broadcasts"]')
    expect(rui.locator("#broadcast-list-view")).to_be_visible()
    rui.click("#broadcast-new-link")
    expect(rui.locator("#broadcast-form-heading")).to_be_focused()
    option = rui.locator(f'#broadcast-template option[value="{MARKETING}"]')
    expect(option).to_be_disabled()
    expect(option).to_contain_text(EN["template_disallowed"])

    rui.fill("#broadcast-name", "Obras na Rua Direita")
    rui.select_option("#broadcast-template", TEMPLATE)
    rui.select_option("#broadcast-topic", TOPIC)
    expect(rui.locator("#preview-audience")).to_have_text(str(len(subscribers)))
    expect(rui.locator("#preview-cost")).to_have_text(euros(PRICE * len(subscribers)))
    # A segment nobody matches: the preview follows each change.
    rui.fill("#broadcast-tags", "nobody-has-this-tag")
    expect(rui.locator("#preview-audience")).to_have_text("0")
    expect(rui.locator("#broadcast-preview")).to_contain_text(EN["audience_empty"])
    rui.fill("#broadcast-tags", "")
    expect(rui.locator("#preview-audience")).to_have_text(str(len(subscribers)))

    news = "A Rua Direita fecha ao trânsito na segunda-feira."
    rui.fill("#broadcast-param-0", news)
    console.screenshot(rui, "broadcast-new")
    rui.click("#broadcast-submit")
    dialog = rui.locator("#broadcast-confirm-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator("#confirm-audience")).to_have_text(f"{len(subscribers)} residents")
    expect(dialog.locator("#confirm-cost")).to_have_text(euros(PRICE * len(subscribers)))
    rui.click("#broadcast-confirm-send")

    expect(rui.locator("#broadcast-detail-heading")).to_have_text("Obras na Rua Direita")
    broadcast_id = rui.evaluate("location.hash").removeprefix("#/broadcasts/")
    expect(rui.locator('#broadcast-progress [data-key="queued"]')).to_be_visible()
    expect(rui.locator("#broadcast-cancel")).to_be_visible()  # while it is under way

    # The template reaches every subscriber's phone, with the text typed; one reads it.
    for phone in subscribers:
        [message] = phone.wait_for_messages(timeout=60)
        assert message["type"] == "template", message
        assert message["template"]["name"] == TEMPLATE
        assert news in json.dumps(message["template"], ensure_ascii=False)
    requests.get(
        f"{stack.simulator}/_sim/residents/{subscribers[0].wa_id}/thread?mark_read=1", timeout=5
    ).raise_for_status()
    assert all(body.get("type") != "template" for body in other.everything_received())

    # The page polls every 3 s until the job completes the broadcast: the final report.
    report = rui.locator("#broadcast-report")
    expect(report).to_be_visible(timeout=COMPLETION)
    expect(rui.locator("#broadcast-detail")).to_contain_text(EN["broadcast_status_completed"])
    expect(rui.locator("#broadcast-cancel")).to_be_hidden()
    expect(kpi(rui, "reached")).to_have_text(str(len(subscribers)))
    expect(kpi(rui, "failed")).to_have_text("0")
    delivered = int(kpi(rui, "delivered").inner_text())
    assert delivered == len(subscribers)
    expect(kpi(rui, "cost")).to_have_text(euros(PRICE * delivered))
    expect(rui.locator('#broadcast-progress [data-key="queued"] .progress-count')).to_have_text("0")
    console.screenshot(rui, "broadcast-report")

    # The list shows it completed; a completed broadcast cannot be cancelled.
    rui.click("#broadcast-detail-view a[href='#/broadcasts']")
    row = rui.locator(f'#broadcast-list tr[data-id="{broadcast_id}"]')
    expect(row).to_contain_text(EN["broadcast_status_completed"])
    refused = console.api(rui, "POST", f"/broadcasts/{broadcast_id}/cancel")
    assert refused.status_code == 409, refused.text


def test_an_agent_sees_no_broadcasts_audit_log_or_resident_data(
    console: Any, agents: Any, new_resident: Any
) -> None:
    lia = new_resident("Lia Fonseca")
    lia.ask_for_a_person("Tenho uma dúvida sobre o pagamento da água")
    ana = console.signed_in(agents.finance)
    expect(ana.locator('[data-nav="inbox"]')).to_be_visible()
    for nav in ("dashboard", "broadcasts", "audit"):
        expect(ana.locator(f'[data-nav="{nav}"]')).to_be_hidden()

    ana.click("#tab-unassigned")
    ana.locator(".row", has_text="Lia Fonseca").click(timeout=ARRIVAL)
    expect(ana.locator("#conversation-name")).to_have_text("Lia Fonseca")
    expect(ana.locator("#profile-facts")).to_contain_text(f"+{lia.wa_id}")
    expect(ana.locator("#resident-data-section")).to_be_hidden()
    expect(ana.locator("#resident-erase")).to_be_hidden()

    # Typing the address leads back to the inbox; the API refuses too. The open conversation
    # closing shows the console has routed the address (the inbox was on screen all along).
    for address in ("#/broadcasts/new", "#/audit"):
        ana.locator(".row", has_text="Lia Fonseca").click()
        expect(ana.locator("#conversation")).to_be_visible()
        ana.evaluate(f"location.hash = '{address}'")
        expect(ana.locator("#conversation")).to_be_hidden()
        expect(ana.locator("#inbox-page")).to_be_visible()
        expect(ana.locator("#broadcasts-page")).to_be_hidden()
        expect(ana.locator("#audit-page")).to_be_hidden()
    for method, path, body in [
        ("GET", "/broadcasts", None),
        ("GET", "/broadcasts/options", None),
        ("POST", "/broadcasts/preview", {"template": TEMPLATE, "topic": TOPIC}),
        ("GET", "/audit", None),
        ("GET", f"/audit?phone={lia.wa_id}", None),
        ("GET", f"/residents/{lia.wa_id}/export", None),
        ("POST", f"/residents/{lia.wa_id}/erase", {"confirm": lia.wa_id}),
    ]:
        answer = console.api(ana, method, path, body)
        assert answer.status_code == 403, (path, answer.status_code, answer.text)
        assert answer.json()["error"]["code"] == "forbidden"


def test_a_supervisor_exports_and_erases_a_residents_data_and_the_audit_log_says_so(
    console: Any, agents: Any, new_resident: Any
) -> None:
    vera = new_resident("Vera Nunes")
    vera.ask_for_a_person("Quero apagar os meus dados, por favor")
    rui = console.signed_in(agents.supervisor)
    rui.fill("#search-input", vera.wa_id)
    rui.locator(".row", has_text="Vera Nunes").click(timeout=ARRIVAL)
    expect(rui.locator("#conversation-name")).to_have_text("Vera Nunes")
    conversation_id = rui.evaluate("location.hash").removeprefix("#/c/")
    section = rui.locator("#resident-data-section")
    expect(section).to_be_visible()

    # Export: the browser saves the JSON file the server names.
    with rui.expect_download() as download:
        rui.click("#resident-export")
    assert download.value.suggested_filename.endswith(".json")
    # The server's name (with the number masked), not the console's fallback.
    assert re.fullmatch(r"resident-export-\w+\.json", download.value.suggested_filename)
    assert vera.wa_id not in download.value.suggested_filename  # masked
    exported = json.loads(Path(download.value.path()).read_text(encoding="utf-8"))
    assert vera.wa_id in json.dumps(exported)
    assert "Quero apagar os meus dados" in json.dumps(exported, ensure_ascii=False)

    # Her audit log: the supervisor looked at her conversation and exported her data.
    rui.click("#resident-audit")
    audit = rui.locator("#resident-audit-dialog")
    expect(audit).to_be_visible()
    rows = audit.locator("tbody tr")
    expect(rows.filter(has_text=EN["audit_action_exported"])).to_have_count(1)
    expect(rows.filter(has_text=EN["audit_action_viewed"]).first).to_contain_text(
        agents.NAMES[agents.supervisor]
    )
    assert vera.wa_id not in audit.inner_text()
    console.screenshot(rui, "resident-audit")
    rui.keyboard.press("Escape")
    expect(audit).to_be_hidden()

    # Erase: the number must be typed again; until it matches, nothing can be erased.
    rui.click("#resident-erase")
    dialog = rui.locator("#erase-dialog")
    expect(dialog).to_be_visible()
    expect(rui.locator("#erase-confirm")).to_be_focused()
    expect(rui.locator("#erase-confirm-label")).to_contain_text(f"+{vera.wa_id}")
    expect(rui.locator("#erase-submit")).to_be_disabled()
    rui.fill("#erase-confirm", vera.wa_id[:-1] + ("0" if vera.wa_id[-1] != "0" else "1"))
    expect(rui.locator("#erase-submit")).to_be_disabled()
    rui.fill("#erase-confirm", f"+{vera.wa_id}")
    expect(rui.locator("#erase-submit")).to_be_enabled()
    console.screenshot(rui, "resident-erase")
    rui.click("#erase-submit")
    result = rui.locator("#erase-result")
    expect(result).to_contain_text(re.compile(r"Erased: [1-9]\d* records?\."))
    expect(rui.locator("#erase-done")).to_be_focused()
    expect(rui.locator("#conversation")).to_be_hidden()  # she is gone from the screen
    rui.click("#erase-done")
    expect(dialog).to_be_hidden()

    gone = console.api(rui, "GET", f"/conversations/{conversation_id}")
    assert gone.status_code == 404, gone.text
    rui.fill("#search-input", vera.wa_id)
    expect(rui.locator("#inbox-empty")).to_have_text(EN["search_no_results"])

    # The audit log lists the erasure, by whom, and never the number.
    rui.click('[data-nav="audit"]')
    expect(rui.locator("#audit-page")).to_be_visible()
    erased = rui.locator("#audit-list tbody tr", has_text=EN["audit_action_erased"]).first
    expect(erased).to_contain_text(agents.NAMES[agents.supervisor])
    assert vera.wa_id not in rui.locator("#audit-list").inner_text()
    console.screenshot(rui, "audit-log")
