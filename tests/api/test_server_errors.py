"""An unexpected exception becomes a JSON 500, and its message (which may quote request data)
never reaches the logs: only its type and stack frames do."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import httpx
import pytest

from settle.api.app import create_app
from settle.api.settings import Settings


def test_unexpected_exception_is_a_json_500_without_its_message_in_the_logs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(Settings(home=tmp_path), runner=False)

    member = "M" + "000123"  # built at run time: stack frames show source lines, not values

    def boom() -> None:
        raise ValueError(f"member {member} has a bad date")  # data quoted in a message

    app.add_api_route("/boom", boom)
    caplog.set_level(logging.DEBUG)

    async def call() -> httpx.Response:
        # raise_app_exceptions: an exception escaping the app (as it would reach uvicorn, which
        # logs its message) fails the test instead of being turned into a 500 by the transport.
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=True)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            return await client.get("/boom")

    response = asyncio.run(call())
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal"
    assert "M000123" not in response.text
    assert "ValueError" in caplog.text
    assert "M000123" not in caplog.text
