"""SRTP for AES_CM_128_HMAC_SHA1_80 RTP on OpenSSL's libcrypto with everything precomputed per
session (the C code: ``fabric/media/_fastpath/srtp_aescm.c``, part of the compiled data plane).

Why hand-written protocol code next to libsrtp: in the relay, libsrtp (the copy inside
pylibsrtp, on OpenSSL 3) re-initialises OpenSSL's EVP cipher and HMAC contexts for every
packet (``evp_cipher_init_internal``, ``HMAC_Init_ex``, ``EVP_MD_CTX_copy_ex``) and looks
streams up in a list; perf of the relay at 500 calls put libsrtp at 35-45% of the relay's CPU
(~6 µs of ~15 µs per forwarded packet), of which the AES and SHA-1 arithmetic was ~6%.
Measured with ``python -m benchmarks.mediabench.srtp_micro`` (unprotect + protect of a
172-byte packet, µs per packet, several runs on the shared 2-core machine): one session hot
in the cache libsrtp 1.09-1.17, this transform 0.59-0.63; 1,000 sessions round-robin
1.42-1.57 against 0.63-0.75; the same with 1 MB of other memory read between packets (what
the kernel and the other legs do to the cache in the relay) 2.9-4.7 against 0.77-1.18. In the
relay (benchmarks/media_relay.py --calls 500, three runs alternating with
``FABRIC_MEDIA_SRTP_TRANSFORM=libsrtp``, the same compiled loop otherwise): 69-93k packets/s
per core on libsrtp, 99-119k on this transform (1.28-1.46x pairwise), p99 2.1-10.2 ms against
2.8-5.6 ms; perf then puts libcrypto plus this code at ~25% of the relay's CPU (~2.5 µs per
packet) and the kernel at 65-69%.

What it does per session, once: the RFC 3711 4.3 key derivation (AES-CM PRF, key derivation
rate 0; checked against RFC 3711 Appendix B.3 in the tests), an AES-128-ECB context keyed with
the session key, HMAC-SHA1's inner and outer SHA-1 states. Per packet: the packet's counter
blocks encrypted in one ``EVP_Cipher`` call (ECB) and XORed in, the tag from copies of the two
states. Rollover counter, index estimate and the 128-packet replay window follow libsrtp's
``rdbx`` (same status codes, so drops are counted as before: ``drop_auth``, ``drop_replay``),
per SSRC for up to 8 SSRCs per direction. The crypto itself stays OpenSSL's.

Scope: only RTP of AES_CM_128_HMAC_SHA1_80 on legs of the compiled data plane. SRTCP, the
other suites (AEAD_AES_256_GCM, ...) and every Python-path leg keep libsrtp. libcrypto is
loaded with ``dlopen`` (``libcrypto.so.3``, which Debian's Python needs for ``ssl`` anyway;
``$FABRIC_MEDIA_LIBCRYPTO`` names another); when it cannot be loaded, or
``$FABRIC_MEDIA_SRTP_TRANSFORM=libsrtp``, legs keep libsrtp. One log line says which transform
runs and ``fabric_media_srtp_transform_info{transform}`` shows it.
"""

from __future__ import annotations

import logging
import os
import threading
from types import ModuleType
from typing import Any

from fabric.media.legs import srtp_session
from fabric.media.srtp_fast import SrtpContext
from fabric.media.suites import SrtpSuite

log = logging.getLogger(__name__)

OPENSSL = "openssl"
LIBSRTP = "libsrtp"
SUITE = SrtpSuite.AES_CM_128_HMAC_SHA1_80
_lock = threading.Lock()
_ready: dict[int, bool] = {}  # id(module) -> whether libcrypto loaded in it


def available(module: ModuleType | None) -> bool:
    """Whether the compiled ``module`` can make transforms (libcrypto loaded); logs once."""
    if module is None:
        return False
    if os.environ.get("FABRIC_MEDIA_SRTP_TRANSFORM", "") == LIBSRTP:
        return False
    with _lock:
        ready = _ready.get(id(module))
        if ready is None:
            name = os.environ.get("FABRIC_MEDIA_LIBCRYPTO") or "libcrypto.so.3"
            ready = _ready[id(module)] = bool(module.lib.fs_init(name.encode()))
            if ready:
                log.info("media: SRTP AES_CM_128_HMAC_SHA1_80 RTP on the precomputed OpenSSL "
                         "transform (%s); SRTCP and other suites on libsrtp", name)
            else:
                log.warning("media: %s could not be loaded; SRTP stays on libsrtp", name)
        return ready


def transform_name(module: ModuleType | None) -> str:
    """Which transform new compiled AES_CM_128_HMAC_SHA1_80 legs get: ``openssl``/``libsrtp``."""
    return OPENSSL if available(module) else LIBSRTP


class AesCmContext(SrtpContext):
    """An :class:`SrtpContext` whose RTP goes through the precomputed transform (the same C
    object the data plane uses, so a leg handed to the Python path keeps its rollover
    counter and replay window); SRTCP stays with the libsrtp session."""

    __slots__ = ("transform", "_mod", "_fbuf", "_fbytes", "_flen")

    def __init__(self, module: ModuleType, suite: SrtpSuite, key: bytes, salt: bytes,
                 inbound: bool) -> None:
        if suite is not SUITE or not available(module):
            raise RuntimeError(f"no precomputed transform for {suite.value} here")
        super().__init__(srtp_session(suite, key, salt, inbound))
        ffi, lib = module.ffi, module.lib
        raw = lib.fs_new(key, salt)
        if raw == ffi.NULL:
            raise MemoryError("the SRTP transform could not be set up")
        self._mod = module
        self.transform: Any = ffi.gc(raw, lib.fs_free)
        self._fbuf: Any = ffi.new("unsigned char[]", 1500)
        self._fbytes: Any = ffi.buffer(self._fbuf)
        self._flen: Any = ffi.new("int *")

    def address(self) -> int:
        """The transform's address, for the C loop."""
        return int(self._mod.ffi.cast("uintptr_t", self.transform))

    def protect(self, data: bytes) -> bytes | None:
        """Encrypt and authenticate an RTP packet."""
        return self._call(self._mod.lib.fs_protect, self.transform, self._fbuf, self._fbytes,
                          self._flen, data)

    def unprotect(self, data: bytes) -> bytes | None:
        """Verify and decrypt an SRTP packet; ``None`` if it fails (see :attr:`status`)."""
        return self._call(self._mod.lib.fs_unprotect, self.transform, self._fbuf,
                          self._fbytes, self._flen, data)


def srtp_context(module: ModuleType | None, suite: SrtpSuite, key: bytes, salt: bytes,
                 inbound: bool) -> SrtpContext:
    """One direction of a leg's SRTP: the precomputed transform when ``module`` (the compiled
    data plane) has libcrypto and the suite is AES_CM_128_HMAC_SHA1_80, else libsrtp."""
    if module is not None and suite is SUITE and available(module):
        return AesCmContext(module, suite, key, salt, inbound)
    return SrtpContext(srtp_session(suite, key, salt, inbound))
