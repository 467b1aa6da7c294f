"""Settings shared by every test.

Hypothesis' per-example deadline (200 ms by default) is a time limit, and tests never assert a
time (performance lives in ``benchmarks/``): on a shared 2-core machine an example that
builds a few frames can take longer without anything being wrong.  It is switched off for the
whole suite."""

from __future__ import annotations

from hypothesis import settings

settings.register_profile("settle", deadline=None)
settings.load_profile("settle")
