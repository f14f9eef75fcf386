"""SRTP crypto suites and SDES key material.

Keys travel only over the TLS-protected control API (SDES, RFC 4568): each side of a leg
offers its own master key and salt, and each leg of a call has keys of its own, so the
relay decrypts with the key the client offered and encrypts with a key it made for that
leg. Two suites are offered: ``AES_CM_128_HMAC_SHA1_80`` (every SIP/SDES device has it)
and ``AEAD_AES_256_GCM`` (RFC 7714, faster on AES-NI and 256-bit).

Key bytes are never put in ``repr``/``str`` or logs; helpers here only report lengths.
"""

from __future__ import annotations

import base64
import enum
import os

import pylibsrtp

from fabric.errors import InvalidArgument


class SrtpSuite(enum.StrEnum):
    """A crypto suite a leg may use; the value is its SDES name."""

    AES_CM_128_HMAC_SHA1_80 = "AES_CM_128_HMAC_SHA1_80"
    AEAD_AES_256_GCM = "AEAD_AES_256_GCM"

    @property
    def key_length(self) -> int:
        """Length in bytes of the master key."""
        return 16 if self is SrtpSuite.AES_CM_128_HMAC_SHA1_80 else 32

    @property
    def salt_length(self) -> int:
        """Length in bytes of the master salt."""
        return 14 if self is SrtpSuite.AES_CM_128_HMAC_SHA1_80 else 12

    @property
    def srtp_profile(self) -> int:
        """The libsrtp profile number (pylibsrtp ``Policy.srtp_profile``)."""
        if self is SrtpSuite.AES_CM_128_HMAC_SHA1_80:
            return int(pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80)
        return int(pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_256_GCM)


def parse_suite(name: str) -> SrtpSuite:
    """Return the suite called ``name``; ``InvalidArgument`` names the accepted values."""
    try:
        return SrtpSuite(name)
    except ValueError:
        accepted = ", ".join(s.value for s in SrtpSuite)
        raise InvalidArgument(
            f"unknown SRTP suite {name!r}; use one of: {accepted}",
            error_id="media-unknown-suite",
        ) from None


def check_key_material(suite: SrtpSuite, master_key: bytes, master_salt: bytes) -> None:
    """Raise ``InvalidArgument`` unless key and salt have the lengths ``suite`` needs."""
    if len(master_key) != suite.key_length or len(master_salt) != suite.salt_length:
        raise InvalidArgument(
            f"{suite.value} needs a {suite.key_length}-byte master key and a "
            f"{suite.salt_length}-byte master salt (got {len(master_key)} and "
            f"{len(master_salt)} bytes)",
            error_id="media-bad-key-length",
        )


def new_key_material(suite: SrtpSuite) -> tuple[bytes, bytes]:
    """Fresh random (master key, master salt) for ``suite`` from the OS CSPRNG."""
    return os.urandom(suite.key_length), os.urandom(suite.salt_length)


def sdes_inline(master_key: bytes, master_salt: bytes) -> str:
    """The SDES ``inline:`` value (base64 of key || salt), as in an SDP ``a=crypto`` line."""
    return "inline:" + base64.b64encode(master_key + master_salt).decode("ascii")


def parse_sdes_inline(suite: SrtpSuite, value: str) -> tuple[bytes, bytes]:
    """Split an SDES ``inline:`` value into (master key, master salt) for ``suite``."""
    text = value.removeprefix("inline:").split("|", 1)[0]
    try:
        raw = base64.b64decode(text, validate=True)
    except ValueError:
        raise InvalidArgument(
            "the SDES inline key is not valid base64", error_id="media-bad-sdes-key"
        ) from None
    key, salt = raw[: suite.key_length], raw[suite.key_length :]
    check_key_material(suite, key, salt)
    return key, salt
