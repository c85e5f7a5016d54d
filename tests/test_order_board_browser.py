"""The order board in a real browser: a page that loaded shows orders published afterwards.

Debian's headless Chromium and its chromedriver, driven by Selenium; run with
``python -m pytest -m browser`` (``.ci/run`` does, after ``apt-get install chromium
chromium-driver``). Without them the tests skip, saying so, except in CI (``CI=true``),
where they fail: there, a missing browser is a broken install, not a choice.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import anyio
import anyio.to_thread
import pytest
from test_order_board import serving

from examples.order_board import create_app

if TYPE_CHECKING:
    from collections.abc import Iterator

    from selenium.webdriver import Chrome

pytestmark = [pytest.mark.browser, pytest.mark.anyio]

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
#: This machine's network is closed: without these, Chromium hangs trying to reach Google.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # uvicorn's


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Chrome]:
    """A headless Chromium with a fresh profile, or a skip (a failure under CI=true)."""
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]
    if missing:
        reason = (
            f"no {' and no '.join(missing)}: the browser tests drive Debian's Chromium "
            f"(apt-get install chromium chromium-driver)"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    from selenium.webdriver import Chrome, ChromeOptions
    from selenium.webdriver.chrome.service import Service

    options = ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in [*FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]:
        options.add_argument(flag)
    # The driver's path is given, so Selenium Manager never tries to download one.
    driver = Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    driver.set_page_load_timeout(20)
    try:
        yield driver
    finally:
        driver.quit()


def wait_for_text(driver: Chrome, css: str, text: str) -> str:
    """Wait (up to 10 s) until the element at *css* shows *text*; return what it shows."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def shown(driver: Chrome) -> str | Literal[False]:
        content: str = driver.find_element(By.CSS_SELECTOR, css).text
        return content if text in content else False

    found: str = WebDriverWait(driver, 10).until(shown)
    return found


@pytest.mark.parametrize("over", ["memory", "redis"])
async def test_the_page_shows_orders_published_after_it_loaded(
    browser: Chrome, over: str, request: pytest.FixtureRequest
) -> None:
    redis_url: str | None = request.getfixturevalue("redis_url") if over == "redis" else None
    channel = f"orders-{uuid.uuid4().hex}"
    async with serving(create_app(redis_url, channel)) as served:
        url = str(served.client.base_url)
        # Selenium blocks: it runs in a worker thread, while uvicorn serves in this loop.
        await anyio.to_thread.run_sync(browser.get, url)
        # "live": the EventSource is open, so the stream's subscriber exists.
        await anyio.to_thread.run_sync(wait_for_text, browser, "#status", "live")
        assert served.board.orders.subscriber_count == 1

        placed = await served.client.post("/orders", json={"item": "widget", "quantity": 2})
        assert placed.status_code == 201
        shown = await anyio.to_thread.run_sync(wait_for_text, browser, "#orders", "widget")
        assert shown == "#1: 2 x widget (web)"

        if redis_url is not None:  # another process publishes to the channel in Redis
            order = {"id": 99, "item": "gadget", "quantity": 1, "source": "cli"}
            await anyio.run_process(
                [
                    *(sys.executable, "-m", "mtbus", "publish", "order.placed"),
                    *(json.dumps(order), "--channel", channel, "--redis", redis_url),
                ]
            )
            shown = await anyio.to_thread.run_sync(wait_for_text, browser, "#orders", "gadget")
            assert shown.splitlines() == ["#99: 1 x gadget (cli)", "#1: 2 x widget (web)"]

        # Leaving the page closes its stream (on "pagehide"), and the server unsubscribes it.
        await anyio.to_thread.run_sync(browser.get, "about:blank")
        with anyio.fail_after(5):
            while served.board.orders.subscriber_count:  # noqa: ASYNC110 (no event says so)
                await anyio.sleep(0.01)
