"""Helpers of the gateway tests (imported by conftest.py and the test modules)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx

from settle.api.settings import Settings

EMPLOYER_GROUP = "G0001"


@dataclass
class Server:
    url: str
    settings: Settings
    keys: dict[str, str]

    def client(self, key: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.keys[key]}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


def wait_for(
    client: httpx.Client, job_id: str, states: tuple[str, ...], timeout: float = 180
) -> dict[str, Any]:
    """Poll a job until it reaches one of ``states``."""
    deadline = time.monotonic() + timeout
    while True:
        job: dict[str, Any] = client.get(f"/v1/jobs/{job_id}").raise_for_status().json()
        if job["state"] in states:
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} still {job['state']} after {timeout} s")
        time.sleep(0.05)
