"""The agents' console in a real browser against the whole local stack (`civicchat run`).

Debian's chromium is driven through Playwright (`make chromium` installs it; Playwright's own
browser downloads are never used). Agents are created with the operator CLI, residents write
through the WhatsApp simulator's HTTP API, exactly as in tests/e2e."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
import requests

from chalicelib.adapters.config_file import load_municipality_file
from chalicelib.domain.bot.definition import MunicipalityDefinition
from chalicelib.settings import BUNDLED_CONFIG
from tests.e2e.stack_process import CIVICCHAT, Phone, RunningStack, running_stack

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"
PASSWORD = "browser-test-password-1"
DESKTOP = {"width": 1440, "height": 900}
TOWN_ZONE = "Europe/Lisbon"  # the bundled example town's


class Agents:
    """The console's users for these tests, created once with `civicchat agent create --local`."""

    finance = "ana.costa@vnr.example"  # agent, finance
    public_works = "joana.reis@vnr.example"  # agent, public works
    supervisor = "rui.matos@vnr.example"  # supervisor of every team

    NAMES: ClassVar[dict[str, str]] = {
        finance: "Ana Costa",
        public_works: "Joana Reis",
        supervisor: "Rui Matos",
    }


def create_agent(stack: RunningStack, email: str, role: str, *teams: str) -> None:
    env = {**os.environ, "AWS_EMULATOR_PORT": stack.aws_emulator.rsplit(":", 1)[1]}
    for name in ("AWS_ENDPOINT_URL", "CIVICCHAT_STAGE"):
        env.pop(name, None)
    team_args = [arg for team in teams for arg in ("--team", team)]
    command = [str(CIVICCHAT), "agent", "create", "--local", "--email", email, "--role", role]
    command += [*team_args, "--name", Agents.NAMES[email], "--password", PASSWORD]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(scope="package")
def stack() -> Iterator[RunningStack]:
    with running_stack() as running:
        create_agent(running, Agents.finance, "agent", "finance")
        create_agent(running, Agents.public_works, "agent", "public_works")
        create_agent(
            running, Agents.supervisor, "supervisor", "front_desk", "finance", "public_works"
        )
        yield running


@pytest.fixture(scope="session")
def town() -> MunicipalityDefinition:
    return load_municipality_file(BUNDLED_CONFIG)


@pytest.fixture(scope="package")
def browser(stack: RunningStack) -> Iterator[Any]:
    """Chromium, closed before the stack stops (so no open connection outlives the app)."""
    if not CHROMIUM.exists():
        pytest.fail("chromium is missing: run `make chromium` (Debian's package) first")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


class Console:
    """Fresh browser sessions on the console (each its own sessionStorage and localStorage)."""

    def __init__(self, browser: Any, stack: RunningStack) -> None:
        self.browser, self.stack = browser, stack
        self.contexts: list[Any] = []
        self.errors: list[str] = []  # uncaught script errors of every page

    def open(self, *, viewport: dict[str, int] = DESKTOP, clock: bool = False) -> Any:
        """`clock`: Playwright's clock is installed first, so a test can move time on (timers
        of a minute) or stop it; it runs at the normal pace until then."""
        context = self.browser.new_context(
            viewport=viewport,
            locale="en-GB",
            timezone_id=TOWN_ZONE,  # staff work in the town's time zone: "today" is the same
            accept_downloads=True,
        )
        context.set_default_timeout(15_000)
        if clock:
            context.clock.install()
        self.contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.goto(f"{self.stack.app}/console")
        return page

    def sign_in(self, page: Any, email: str, password: str = PASSWORD) -> None:
        page.fill("#signin-email", email)
        page.fill("#signin-password", password)
        page.click("#signin-form button[type=submit]")
        page.wait_for_selector("#shell:not([hidden])")
        page.wait_for_selector("#me-name:not(:empty)", state="attached")
        page.wait_for_selector('#inbox-list[aria-busy="false"]', state="attached")

    def signed_in(
        self, email: str, *, viewport: dict[str, int] = DESKTOP, clock: bool = False
    ) -> Any:
        page = self.open(viewport=viewport, clock=clock)
        self.sign_in(page, email)
        return page

    def api(self, page: Any, method: str, path: str, body: Any = None) -> requests.Response:
        """/console/api as the page's signed-in agent, from outside the page (as a colleague's
        console or the server's own jobs would change things)."""
        token = page.evaluate(
            "JSON.parse(sessionStorage.getItem('civicchat.console.tokens')).id_token"
        )
        return requests.request(
            method,
            f"{self.stack.app}/console/api{path}",
            headers={"Authorization": token},
            json=body,
            timeout=15,
        )

    @staticmethod
    def screenshot(page: Any, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        page.evaluate("document.getElementById('toasts').replaceChildren()")  # transient
        page.screenshot(path=str(path))
        return path

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture
def console(browser: Any, stack: RunningStack) -> Iterator[Console]:
    opened = Console(browser, stack)
    yield opened
    opened.close()
    assert not opened.errors, f"script errors in the console: {opened.errors}"


@pytest.fixture
def agents() -> type[Agents]:
    return Agents


@pytest.fixture
def new_resident(stack: RunningStack) -> Any:
    """A resident with a phone number of their own for each call."""
    numbers = iter(range(1, 1000))

    def make(name: str, *, country: str = "351") -> Resident:
        wa_id = f"{country}9{int(time.time() * 1000) % 10**7:07d}{next(numbers):02d}"
        return Resident(stack, wa_id, name)

    return make


class Resident(Phone):
    """A resident's phone that asks for a person the way residents do."""

    def ask_for_a_person(self, question: str, *, hello: str = "Olá, bom dia") -> None:
        """Consent, a question the bot does not understand, then "talk to a person"."""
        self.send(type="text", text=hello)
        self.send(type="button_reply", reply_id="consent:accept")
        self.send(type="text", text=question)
        self.send(type="list_reply", reply_id="human")
