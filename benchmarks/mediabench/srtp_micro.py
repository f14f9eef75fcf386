"""Microbenchmark of the relay's SRTP work per packet (unprotect + protect of a 172-byte
AES_CM_128_HMAC_SHA1_80 packet): libsrtp as the relay called it (pylibsrtp's function
pointers) against the precomputed OpenSSL transform (fabric/media/srtp_aescm.py), side by side.

Three settings: ``hot`` (one session pair, everything in the cache), ``sessions`` (1,000
session pairs round-robin, as 500 calls), ``cold`` (the same with 1 MB of other memory read
between two packets: in the relay the kernel and the other legs evict a leg's state between
two of its packets). Only the time inside the two calls counts (CLOCK_MONOTONIC around them).
Usage: ``python -m benchmarks.mediabench.srtp_micro [--rounds 3]``; the JSON line last
(packets/s per core in the ``cold`` setting: value = the transform, baseline = libsrtp).
"""

from __future__ import annotations

import argparse
import json
import statistics
import struct
import sys
from pathlib import Path
from typing import Any

from fabric.media._fastpath.build import CffiModule
from fabric.media.fastleg import srtp_address
from fabric.media.fastpath import srtp_pointers
from fabric.media.legs import srtp_session
from fabric.media.suites import SrtpSuite, new_key_material

_HERE = Path(__file__).resolve().parent
_FASTPATH = _HERE.parents[1] / "fabric" / "media" / "_fastpath"
MICRO = CffiModule(
    "_fabric_srtp_micro", _HERE, "srtp_micro.h", "srtp_micro.c", "double sm_run",
    tagged=("srtp_micro.h", "srtp_micro.c", "srtp_micro.py",
            "../../fabric/media/_fastpath/srtp_aescm.c"),
    compile_args=("-O2", f"-I{_FASTPATH}"), link_args=("-ldl",),
)
"""The benchmark's C loop (it includes the relay's srtp_aescm.c)."""

SUITE = SrtpSuite.AES_CM_128_HMAC_SHA1_80
SETTINGS = {"hot": (1, 0), "sessions": (1000, 0), "cold": (1000, 1 << 20)}
PER_SESSION = 40


def run(mod: Any, sessions: int, pollute: int) -> dict[str, float]:
    """µs per packet (unprotect + protect) of libsrtp and of the transform, fresh sessions."""
    ffi, lib = mod.ffi, mod.lib
    keys_in = [new_key_material(SUITE) for _ in range(sessions)]
    keys_out = [new_key_material(SUITE) for _ in range(sessions)]
    senders = [srtp_session(SUITE, *k, inbound=False) for k in keys_in]
    count, stride = sessions * max(PER_SESSION, 20000 // sessions), 256
    raw, lens = bytearray(stride * count), []
    for i in range(count):
        s, seq = i % sessions, i // sessions
        plain = struct.pack("!BBHII", 0x80, 0, seq, seq * 160, 1000 + s) + bytes(160)
        packet = bytes(senders[s].protect(plain))
        raw[stride * i : stride * i + len(packet)] = packet
        lens.append(len(packet))
    packets, lengths, fails = ffi.new("unsigned char[]", bytes(raw)), ffi.new("int[]", lens), \
        ffi.new("int *")
    rx = [srtp_session(SUITE, *k, inbound=True) for k in keys_in]
    tx = [srtp_session(SUITE, *k, inbound=False) for k in keys_out]
    rx_ptrs = ffi.new("void *[]", [ffi.cast("void *", srtp_address(x)) for x in rx])
    tx_ptrs = ffi.new("void *[]", [ffi.cast("void *", srtp_address(x)) for x in tx])
    pointers = srtp_pointers()
    assert pointers is not None, "pylibsrtp's binding does not export the libsrtp calls"
    protect, unprotect = pointers[0], pointers[1]
    spent = lib.sm_run(unprotect, rx_ptrs, protect, tx_ptrs, sessions, packets, stride,
                       lengths, count, pollute, fails)
    assert fails[0] == 0, "libsrtp refused a packet"
    out = {"libsrtp": 1e6 * spent / count}
    frx = [ffi.gc(lib.fs_new(*k), lib.fs_free) for k in keys_in]
    ftx = [ffi.gc(lib.fs_new(*k), lib.fs_free) for k in keys_out]
    spent = lib.sm_run(lib.sm_fs_unprotect(), ffi.new("void *[]", frx), lib.sm_fs_protect(),
                       ffi.new("void *[]", ftx), sessions, packets, stride, lengths, count,
                       pollute, fails)
    assert fails[0] == 0, "the transform refused a packet"
    out["transform"] = 1e6 * spent / count
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3, help="runs per setting (median)")
    args = parser.parse_args()
    mod = MICRO.load(_HERE.parents[1] / ".cache" / "mediabench" / MICRO.tag())
    if not mod.lib.fs_init(b"libcrypto.so.3"):
        raise SystemExit("libcrypto.so.3 could not be loaded")
    table: dict[str, dict[str, float]] = {}
    for name, (sessions, pollute) in SETTINGS.items():
        runs = [run(mod, sessions, pollute) for _ in range(args.rounds)]
        table[name] = {k: round(statistics.median(r[k] for r in runs), 3) for k in runs[0]}
        print(f"{name:9s} libsrtp {table[name]['libsrtp']:.3f} µs  transform "
              f"{table[name]['transform']:.3f} µs per packet (unprotect + protect)",
              file=sys.stderr)
    value, baseline = 1e6 / table["cold"]["transform"], 1e6 / table["cold"]["libsrtp"]
    print(json.dumps({
        "bench": "srtp_transform", "value": round(value, 1),
        "unit": "packets/s per core, unprotect + protect, 1,000 sessions, cold cache",
        "baseline": round(baseline, 1), "baseline_what": "libsrtp (pylibsrtp's), as the relay "
        "called it", "ratio": round(value / baseline, 3), "us_per_packet": table,
    }))


if __name__ == "__main__":
    main()
