"""A zip file written as a stream: entries go out as they are written, nothing on disk.

Python's :mod:`zipfile` writes to a non-seekable sink with data descriptors (sizes and CRC
after each entry), so the archive needs no seek and no temporary file (no plaintext
content on disk). Entries are stored, not deflated: audio does not compress, and an export
should run at the speed of reading the data. Every entry carries the same timestamp (the
export's as-of time) and mode, so the same data always gives the same bytes: that is what
lets a download resume at an offset (:mod:`actors.privacy.export`).
"""

from __future__ import annotations

import hashlib
import io
import time
import zipfile
from typing import IO


class _Sink(io.RawIOBase):
    """Collects what zipfile writes; tells its position, refuses to seek."""

    def __init__(self) -> None:
        super().__init__()
        self.buf = bytearray()
        self.pos = 0

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        self.buf += data
        self.pos += len(data)
        return len(data)

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = 0) -> int:
        raise io.UnsupportedOperation("a zip stream cannot seek")


class ZipStream:
    """Write entries one after the other; :meth:`take` returns the bytes made so far."""

    def __init__(self, as_of: float) -> None:
        self._sink = _Sink()
        self._zip = zipfile.ZipFile(self._sink, "w", zipfile.ZIP_STORED, allowZip64=True)
        self._stamp = time.gmtime(max(as_of, 315_532_800))[:6]  # zip dates start in 1980
        self._entry: IO[bytes] | None = None
        self._hash = hashlib.sha256()
        self._size = 0

    def begin(self, path: str, size: int | None = None) -> None:
        """Start an entry (``size`` when known; else room for a large one is kept)."""
        info = zipfile.ZipInfo(path, date_time=self._stamp)  # type: ignore[arg-type]
        info.compress_type = zipfile.ZIP_STORED
        info.external_attr = 0o100644 << 16
        if size is not None:
            info.file_size = size
        self._entry = self._zip.open(info, "w", force_zip64=size is None)
        self._hash = hashlib.sha256()
        self._size = 0

    def write(self, data: bytes | memoryview) -> None:
        """Add bytes to the current entry."""
        assert self._entry is not None, "begin() an entry first"
        self._entry.write(data)
        self._hash.update(data)
        self._size += len(data)

    def end(self) -> tuple[str, int]:
        """Close the entry; return its SHA-256 (hex) and size."""
        assert self._entry is not None, "begin() an entry first"
        self._entry.close()
        self._entry = None
        return self._hash.hexdigest(), self._size

    def finish(self) -> None:
        """Write the central directory (the zip is complete after the next take)."""
        self._zip.close()

    def pending(self) -> int:
        """Bytes made and not taken yet."""
        return len(self._sink.buf)

    def take(self) -> bytes:
        """The bytes made since the last take."""
        out = bytes(self._sink.buf)
        self._sink.buf.clear()
        return out
