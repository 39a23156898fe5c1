"""The /chat/ page in headless Chromium: two users in two browsers on a live uvicorn."""

from __future__ import annotations

import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from apps.chat.models import Message
from tests.accounts.factories import UserFactory

from .factories import direct

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

WAIT = 15


def login(driver, base_url: str, user) -> None:
    """A real session cookie for ``user`` in this browser."""
    from django.test import Client

    client = Client()
    client.force_login(user)
    driver.get(base_url + "/healthz")
    driver.add_cookie({"name": "sessionid", "value": client.cookies["sessionid"].value, "path": "/"})


def console_errors(driver) -> list[str]:
    """JavaScript errors and failed requests of the page (the browser's own favicon probe aside)."""
    return [
        e["message"]
        for e in driver.get_log("browser")
        if e.get("level") == "SEVERE" and "favicon.ico" not in e["message"]
    ]


def wait(driver, condition, message: str = ""):
    return WebDriverWait(
        driver, WAIT, poll_frequency=0.05, ignored_exceptions=(StaleElementReferenceException,)
    ).until(condition, message)


# the page re-renders lists: read and click through one script call each, never via stale handles
def texts(driver, selector: str) -> list[str]:
    return driver.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0])).map(e => e.textContent.trim())", selector
    )


def attrs(driver, selector: str, name: str) -> list[str]:
    return driver.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0])).map(e => e.getAttribute(arguments[1]))",
        selector,
        name,
    )


def visible(driver, selector: str) -> bool:
    return driver.execute_script(
        "const e = document.querySelector(arguments[0]); return !!e && e.offsetParent !== null", selector
    )


def click(driver, selector: str) -> None:
    wait(driver, lambda d: texts(d, selector), f"{selector} to click")
    driver.execute_script("document.querySelector(arguments[0]).click()", selector)


def css(driver, selector: str) -> list[str]:
    return texts(driver, selector)


def status(driver) -> str:
    return attrs(driver, "#chat-status", "data-state")[0]


def main_bodies(driver) -> list[str]:
    return texts(driver, "#chat-messages .msg[data-seq] .body")


def seqs(driver) -> list[int]:
    return [int(v) for v in attrs(driver, "#chat-messages .msg[data-seq]", "data-seq")]


def write(driver, text: str, box: str = "chat-input") -> None:
    field = driver.find_element(By.ID, box)
    field.send_keys(text)
    field.send_keys(Keys.ENTER)


def set_offline(driver, offline: bool) -> None:
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd(
        "Network.emulateNetworkConditions",
        {"offline": offline, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
    )
    # Chromium fires offline/online for the emulation; dispatching makes it certain on every version
    driver.execute_script(f"window.dispatchEvent(new Event('{'offline' if offline else 'online'}'))")


@pytest.mark.timeout(900)
def test_two_people_chat_react_and_one_goes_offline_and_back(live_asgi, chromium, other_chromium, network):
    alice = UserFactory(network=network, handle="alice", display_name="Alice")
    bob = UserFactory(network=network, handle="bob", display_name="Bob")
    conversation = direct(alice, bob)
    url = f"{live_asgi.url}/chat/"

    a, b = chromium, other_chromium
    login(a, live_asgi.url, alice)
    login(b, live_asgi.url, bob)
    a.get(f"{url}#/c/{conversation.pk}")
    b.get(url)
    for driver in (a, b):
        wait(driver, lambda d: status(d) == "online", "the socket to connect")

    # Alice writes; her message shows at once and is replaced by the server's copy (seq 1)
    write(a, "Hello Bob")
    wait(a, lambda d: seqs(d) == [1], "Alice's message confirmed with seq 1")
    assert css(a, "#chat-messages .msg.pending") == []
    # Bob has not opened the conversation: an unread badge
    badge = f'#chat-list li[data-id="{conversation.pk}"] .unread-badge'
    wait(b, lambda d: css(d, badge) == ["1"] and visible(d, badge), "Bob's unread badge")

    # Bob opens it: the message is there, the badge goes, Alice sees him typing
    click(b, f'#chat-list li[data-id="{conversation.pk}"]')
    wait(b, lambda d: main_bodies(d) == ["Hello Bob"], "the message in Bob's window")
    wait(b, lambda d: not visible(d, badge), "the badge to clear")
    b.find_element(By.ID, "chat-input").send_keys("typing…")
    wait(a, lambda d: "@bob is typing" in d.find_element(By.ID, "chat-typing").text, "the typing indicator")
    b.find_element(By.ID, "chat-input").clear()

    # Bob reacts; Alice sees the reaction count
    first = '#chat-messages .msg[data-seq="1"]'
    click(b, f'{first} button.react-add[data-emoji="👍"]')
    wait(a, lambda d: css(d, f'{first} button.reaction[data-emoji="👍"]'), "the reaction at Alice's")
    wait(a, lambda d: css(d, f'{first} button.reaction[data-emoji="👍"]') == ["👍 1"], "the count")
    wait(b, lambda d: css(d, f'{first} button.reaction.mine[data-emoji="👍"]'), "Bob's own reaction marked")

    # Bob replies in a thread; Alice sees "1 reply"
    click(b, f"{first} button.thread-link")
    wait(b, lambda d: visible(d, "#chat-thread-input"), "the thread panel")
    write(b, "In a thread", box="chat-thread-input")
    wait(a, lambda d: css(d, f"{first} button.thread-link") == ["1 reply"], "the reply count")
    b.find_element(By.ID, "chat-thread-close").click()

    # Bob goes offline; Alice keeps writing; Bob writes while offline (it waits, pending)
    set_offline(b, True)
    wait(b, lambda d: status(d) == "offline", "Bob offline")
    write(a, "Are you there?")
    write(a, "Ping")
    wait(a, lambda d: seqs(d)[-2:] == [3, 4], "Alice's messages stored")
    write(b, "Sorry, train tunnel")
    wait(b, lambda d: css(d, "#chat-messages .msg.pending"), "Bob's message pending while offline")
    assert "Are you there?" not in main_bodies(b)

    # back online: Bob catches up from his last seq and his pending message goes out once
    set_offline(b, False)
    wait(b, lambda d: status(d) == "online", "Bob back online")
    wait(
        b,
        lambda d: main_bodies(d) == ["Hello Bob", "Are you there?", "Ping", "Sorry, train tunnel"],
        "Bob caught up, in order",
    )
    wait(b, lambda d: css(d, "#chat-messages .msg.pending") == [], "Bob's message confirmed")
    wait(a, lambda d: main_bodies(d)[-1:] == ["Sorry, train tunnel"], "Bob's message at Alice's")
    assert seqs(b) == [1, 3, 4, 5]  # seq 2 is the thread reply, folded into its thread
    assert seqs(a) == [1, 3, 4, 5]
    assert Message.objects.filter(conversation=conversation).count() == 5
    assert console_errors(a) == [] and console_errors(b) == []


@pytest.mark.timeout(900)
def test_the_chat_page_needs_a_login(live_asgi, chromium):
    driver = chromium
    driver.get(f"{live_asgi.url}/chat/")
    wait(driver, lambda d: "/accounts/login/" in d.current_url, "the login redirect")
