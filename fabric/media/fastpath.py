"""The compiled data plane of a relay, and the guarded fall-back to the Python path.

:class:`FastPlane` wraps one instance of the C loop (``fabric/media/_fastpath/fastpath.c``):
a thread of its own (the GIL is not held) that owns the sockets of the relay's fast legs
in one epoll set, receives with ``recvmmsg``, unprotects and re-protects (AES_CM_128_HMAC_SHA1_80
RTP with the precomputed transform of :mod:`fabric.media.srtp_aescm` when libcrypto loads,
everything else with libsrtp, the copy inside pylibsrtp, called through its function
pointers) and sends with ``sendmmsg``.
Python keeps control: it opens the sockets and libsrtp sessions, wires legs to their
peers, reads the counters, runs timeouts. The per-packet rules are those of
:class:`fabric.media.legs.SdesLeg` (latching, re-latching, drops by reason, RFC 3550 loss
and jitter), repeated in C.

Loading (:func:`load_plane_module`): the module is imported from the build cache (``make
install`` builds it, see ``fabric.media._fastpath.build``), else built there on first use
(needs a C compiler and cffi). If it cannot be loaded or built, if pylibsrtp's binding
lacks what the C loop needs, or if ``media.dataplane`` / ``$FABRIC_MEDIA_DATAPLANE`` says
``python``, the relay runs today's Python path; one log line says which path runs and the
metric ``fabric_media_dataplane_info{path}`` shows it.
"""

from __future__ import annotations

import logging
import os
import threading
from types import ModuleType
from typing import Any

log = logging.getLogger(__name__)

COMPILED = "compiled"
PYTHON = "python"
_lock = threading.Lock()
_module: ModuleType | None = None
_failure: str | None = None


def srtp_pointers() -> tuple[int, int, int, int] | None:
    """The addresses of libsrtp's ``srtp_protect``, ``srtp_unprotect``, ``srtp_protect_rtcp``
    and ``srtp_unprotect_rtcp`` in pylibsrtp's binding (None if it does not export them)."""
    try:
        from pylibsrtp._binding import ffi, lib

        return tuple(  # type: ignore[return-value]
            int(ffi.cast("uintptr_t", ffi.addressof(lib, name)))
            for name in ("srtp_protect", "srtp_unprotect", "srtp_protect_rtcp",
                         "srtp_unprotect_rtcp")
        )
    except (ImportError, AttributeError, TypeError):
        return None


def _import_or_build() -> ModuleType:
    from fabric.media._fastpath import build as fp_build

    return fp_build.FASTPATH.load(fp_build.cache_dir())


def load_plane_module(wanted: str = "auto") -> ModuleType | None:
    """The compiled module, or None when the Python path must run (the reason is logged
    once). ``wanted``: ``auto`` (compiled if it loads) or ``python``."""
    global _module, _failure
    if (os.environ.get("FABRIC_MEDIA_DATAPLANE") or wanted) == PYTHON:
        return None
    with _lock:
        if _module is None and _failure is None:
            try:
                if srtp_pointers() is None:
                    raise RuntimeError("pylibsrtp's binding does not export the libsrtp calls")
                _module = _import_or_build()
                log.info("media: the compiled data plane runs (recvmmsg/sendmmsg + libsrtp)")
            except Exception as exc:  # noqa: BLE001 - any failure means: run the Python path
                _failure = f"{type(exc).__name__}: {exc}"[:300]
                log.warning("media: compiled data plane unavailable, the Python path runs (%s)",
                            _failure)
        return _module


class FastPlane:
    """One running C loop: legs are slots (handles) in it."""

    def __init__(self, module: ModuleType, capacity: int, crypto: bool = True) -> None:
        self.ffi: Any = module.ffi
        self.lib: Any = module.lib
        pointers = srtp_pointers()
        assert pointers is not None
        self.crypto = crypto
        if not crypto:  # benchmarks only: the same loop forwarding without SRTP
            null = int(self.ffi.cast("uintptr_t", self.ffi.addressof(self.lib, "fp_nocrypto")))
            pointers = (null, null, null, null)
        self._engine = self.lib.fp_new(capacity, *pointers)
        if self._engine == self.ffi.NULL:
            raise MemoryError("the compiled data plane could not allocate its tables")
        if self.lib.fp_start(self._engine) != 0:
            raise RuntimeError("the compiled data plane thread did not start")
        self._closed = False

    def add(self, fd: int, rx: int, tx: int, declared_ip: int, declared_port: int,
            frx: int = 0, ftx: int = 0) -> int:
        """Serve socket ``fd`` with the libsrtp sessions at addresses ``rx``/``tx`` (and for
        RTP the precomputed transforms ``frx``/``ftx`` of fabric.media.srtp_aescm, 0: none);
        a handle."""
        ffi = self.ffi
        if not self.crypto:
            frx = ftx = 0
        handle: int = self.lib.fp_leg_add(
            self._engine, fd, ffi.cast("void *", rx), ffi.cast("void *", tx),
            ffi.cast("void *", frx), ffi.cast("void *", ftx), declared_ip, declared_port,
        )
        if handle < 0:
            raise OSError(f"the compiled data plane refused the socket ({handle})")
        return handle

    def leg(self, handle: int) -> Any:
        """The live counters of a slot (a ``fp_leg *``)."""
        return self.lib.fp_leg_get(self._engine, handle)

    def snapshot(self, handle: int) -> Any:
        """A private copy of a slot's counters (taken right after a detach)."""
        copy = self.ffi.new("fp_leg *")
        self.ffi.memmove(copy, self.leg(handle), self.ffi.sizeof("fp_leg"))
        return copy

    def set_peers(self, handle: int, peers: list[int]) -> None:
        """Forward what ``handle`` receives to ``peers`` (at most 8)."""
        arr = self.ffi.new("int[]", peers or [0])
        self.lib.fp_set_peers(self._engine, handle, arr, len(peers))

    def detach(self, handles: list[int]) -> None:
        """Stop serving these slots (atomically: no packet between two of them)."""
        if handles:
            self.lib.fp_detach(self._engine, self.ffi.new("int[]", handles), len(handles))

    def batches(self) -> int:
        """recvmmsg calls that returned packets, since start."""
        return int(self.lib.fp_batches(self._engine))

    def close(self) -> None:
        """Stop the thread (slots are not freed: the plane lives as long as its engine)."""
        if not self._closed:
            self._closed = True
            self.lib.fp_stop(self._engine)
