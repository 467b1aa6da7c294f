"""Fixtures of the deployment tests (the helpers themselves are in ``helpers.py``)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from typing import Any

import pytest

from tests.deploy.helpers import render_overlay, skip_or_fail


@pytest.fixture
def render() -> Callable[[str], list[dict[str, Any]]]:
    """``render(overlay)``: the overlay's objects as ``kubectl kustomize`` prints them (fresh copies)."""
    if shutil.which("kubectl") is None:
        skip_or_fail("kubectl is not installed: the overlays cannot be rendered")

    def _copy(overlay: str) -> list[dict[str, Any]]:
        return json.loads(json.dumps(render_overlay(overlay)))

    return _copy
