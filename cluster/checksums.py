"""The inputs' sizes and SHA-256 for the manifest, computed beside the job from its start.

Hashing a 1M-member book's inputs (about 0.5 GB) takes about half a CPU-second; a 10M book's,
several.  It needs nothing but the files, so a thread starts on it as soon as the job has
listed them (:class:`InputChecksums`) and the manifest takes the result at the end: the hashing
fills the moments a core is idle (the driver's plan and reduce, the last task of a stage)
instead of adding to the settle stage, where the driver had done it beside writing the
member-level outputs.  A job that fails cancels it (the thread stops at its next 4 MiB
chunk, and is a daemon: a failed job never waits for it).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from settle.engine.errors import SettleSystemError
from settle.engine.readers import InputFile

__all__ = ["InputChecksums", "checksum"]

_CHUNK = 1 << 22


def checksum(file: InputFile, cancelled: threading.Event | None = None) -> tuple[int, str] | None:
    """``file``'s size in bytes and SHA-256 (hex); ``None`` once ``cancelled`` is set (checked
    before each chunk is read)."""
    digest = hashlib.sha256()
    size = 0
    with file.filesystem.open_input_stream(file.path) as stream:
        while not (cancelled is not None and cancelled.is_set()):
            chunk = stream.read(_CHUNK)
            if not chunk:
                return size, digest.hexdigest()
            size += len(chunk)
            digest.update(chunk)
    return None


class InputChecksums:
    """The manifest's ``inputs`` (per table, sorted by table: each file's path, bytes and
    SHA-256, in the files' order), computed by a thread started here."""

    def __init__(self, files: Mapping[str, Sequence[InputFile]]) -> None:
        self._files = {t: list(files[t]) for t in sorted(files)}
        self._cancelled = threading.Event()
        self._result: dict[str, list[dict[str, Any]]] | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="settle-checksums", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            listed: dict[str, list[dict[str, Any]]] = {}
            for table, files in self._files.items():
                entries = []
                for f in files:
                    found = checksum(f, self._cancelled)
                    if found is None:
                        return
                    entries.append({"path": f.display, "bytes": found[0], "sha256": found[1]})
                listed[table] = entries
            self._result = listed
        except BaseException as error:  # handed to result(), in the job's thread
            self._error = error

    def result(self) -> dict[str, list[dict[str, Any]]]:
        """The checksums (waits for the thread; re-raises what stopped it)."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        if self._result is None:
            raise SettleSystemError("the inputs' checksums were cancelled before they were asked for")
        return self._result

    def cancel(self) -> None:
        self._cancelled.set()
