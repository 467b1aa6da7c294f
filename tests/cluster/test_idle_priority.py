"""A background thread of the driver lowers its own priority, and only its own."""

import os
import sys
import threading
from pathlib import Path

import pytest

from settle.cluster.idle_priority import IDLE_NICE, lower_this_thread


def _nice(tid: int) -> int:
    # Field 19 of /proc/<pid>/task/<tid>/stat (counted after the command's closing parenthesis).
    stat = Path(f"/proc/self/task/{tid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[16])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="threads have their own priority on Linux")
def test_the_calling_thread_alone_is_lowered() -> None:
    before = os.getpriority(os.PRIO_PROCESS, 0)
    seen: list[tuple[bool, int]] = []

    def background() -> None:
        lowered = lower_this_thread()
        seen.append((lowered, _nice(threading.get_native_id())))

    thread = threading.Thread(target=background)
    thread.start()
    thread.join()
    assert seen == [(True, IDLE_NICE)]
    assert _nice(threading.get_native_id()) == before  # the main thread keeps its priority
    assert os.getpriority(os.PRIO_PROCESS, 0) == before
