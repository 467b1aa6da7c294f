"""The consoles the command line prints to (tables are not squeezed into 80 columns when piped)."""

from __future__ import annotations

import sys

from rich.console import Console

__all__ = ["console", "err_console"]

console = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True, soft_wrap=True)
