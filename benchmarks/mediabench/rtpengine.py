"""rtpengine (Debian's ``rtpengine-daemon``, userspace: ``--table=-1``) as a baseline of
benchmarks/media_relay.py, driven over its ng control protocol (bencode over UDP).

:class:`RtpengineRelay` answers the same commands as the benchmark's relay process
(``setup``, ``cpu``, ``totals``, ``release``, ...), so the same load generator drives both.
Each call is an offer/answer through rtpengine with SDES AES_CM_128_HMAC_SHA1_80 on both
legs, as the issue asks: the caller offers two crypto lines with different keys, the callee
answers the second. What rtpengine 10.5 does with that (its daemon/call.c and
media_socket.c, and checked by decrypting its output with the keys it signalled):
- it answers the caller with tag 1 (the first line of the accepted suite) and copies the
  callee's key into that answer ("SRTP<>SRTP passthrough" in call.c), so caller -> callee
  is decrypted with key 1 and re-encrypted with key 2 (the bytes differ), while
  callee -> caller leaves with the key it came in with;
- its stream handler re-crypts a stream pair when the keys differ in EITHER direction
  (``crypto_params_cmp`` in/out OR out/in in ``__determine_handler``), so callee -> caller
  is decrypted and re-encrypted too, with the same key: byte-identical output, full crypto
  cost. ``passthrough_packets`` therefore counts that direction (one per callee leg);
- answering the FIRST line (``recrypt=False``, mode ``rtpengine_passthrough``) makes the keys
  equal both ways and rtpengine forwards without crypto: the CPU difference between the two
  modes is what the re-encryption costs it.
CPU is the daemon's user + system time from ``/proc/<pid>/stat`` (all threads).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import time
from types import SimpleNamespace
from typing import Any

NG_PORT = 22229
PORT_MIN, PORT_MAX = 50000, 59999
_TICK = os.sysconf("SC_CLK_TCK")


def bencode(value: Any) -> bytes:
    """Encode str/bytes/int/list/dict."""
    if isinstance(value, int):
        return b"i%de" % value
    if isinstance(value, str):
        value = value.encode()
    if isinstance(value, bytes):
        return b"%d:%s" % (len(value), value)
    if isinstance(value, list):
        return b"l" + b"".join(bencode(v) for v in value) + b"e"
    if isinstance(value, dict):
        return b"d" + b"".join(bencode(k) + bencode(value[k]) for k in sorted(value)) + b"e"
    raise TypeError(type(value))


def bdecode(data: bytes, i: int = 0) -> tuple[Any, int]:
    """Decode one value at ``i``; (value, next index). Byte strings come back as str."""
    c = data[i : i + 1]
    if c == b"i":
        end = data.index(b"e", i)
        return int(data[i + 1 : end]), end + 1
    if c in (b"l", b"d"):
        i += 1
        items = []
        while data[i : i + 1] != b"e":
            item, i = bdecode(data, i)
            items.append(item)
        if c == b"l":
            return items, i + 1
        return dict(zip(items[0::2], items[1::2], strict=True)), i + 1
    colon = data.index(b":", i)
    size = int(data[i:colon])
    return data[colon + 1 : colon + 1 + size].decode(errors="replace"), colon + 1 + size


def _sdp(port: int, cryptos: list[tuple[int, str, bytes]]) -> str:
    lines = [
        "v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0",
        f"m=audio {port} RTP/SAVP 0", "a=rtpmap:0 PCMU/8000", "a=rtcp-mux", "a=sendrecv",
    ]
    for tag, suite, key in cryptos:
        inline = base64.b64encode(key).decode()
        lines.append(f"a=crypto:{tag} {suite} inline:{inline}")
    return "\r\n".join(lines) + "\r\n"


def _crypto_tag(sdp: str, suite: str) -> int:
    tags = [int(line.split()[0].split(":")[1]) for line in sdp.splitlines()
            if line.startswith("a=crypto:") and line.split()[1] == suite]
    if not tags:
        raise RuntimeError(f"rtpengine did not offer {suite}")
    return tags[-1]  # the last: rtpengine's own line (the caller's come first)


def _media_port(sdp: str) -> int:
    for line in sdp.splitlines():
        if line.startswith("m=audio "):
            return int(line.split()[1])
    raise RuntimeError("rtpengine's SDP has no audio line")


class RtpengineRelay:
    """A running rtpengine daemon behind the benchmark's relay command interface."""

    def __init__(self, recrypt: bool = True) -> None:
        self.recrypt = recrypt
        binary = shutil.which("rtpengine")
        if binary is None:
            raise FileNotFoundError("rtpengine is not installed (make bench-deps)")
        self.proc = subprocess.Popen(
            [binary, "--foreground", "--log-stderr", "--table=-1", "--interface=127.0.0.1",
             f"--listen-ng=127.0.0.1:{NG_PORT}", f"--port-min={PORT_MIN}",
             f"--port-max={PORT_MAX}", "--log-level=3", "--timeout=3600"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        self.ng = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.ng.settimeout(2.0)
        self._cookie = 0
        self._calls: list[tuple[str, str]] = []
        self._reply: Any = None
        deadline = time.monotonic() + 10
        while True:
            try:
                if self.command({"command": "ping"}).get("result") == "pong":
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.close()
                raise RuntimeError("rtpengine did not answer ping")
            time.sleep(0.2)

    def command(self, body: dict[str, Any]) -> dict[str, Any]:
        """One ng request and its reply."""
        self._cookie += 1
        cookie = b"c%d" % self._cookie
        self.ng.sendto(cookie + b" " + bencode(body), ("127.0.0.1", NG_PORT))
        while True:
            data = self.ng.recv(65535)
            head, _, rest = data.partition(b" ")
            if head == cookie:
                reply, _ = bdecode(rest)
                if reply.get("result") == "error":
                    raise RuntimeError(f"rtpengine: {reply.get('error-reason')}")
                return dict(reply)

    def _setup(self, calls: list[tuple[str, list[tuple[str, Any]]]]) -> list[list[Any]]:
        answers = []
        for call, ((_, offer_a), (_, offer_b)) in calls:
            # tag 1: the caller's key (rtpengine answers the caller with tag 1); tag 2: another
            # key, the one the callee accepts, so each direction is decrypted and re-encrypted
            other = os.urandom(30)
            offered = self.command({
                "command": "offer", "call-id": call, "from-tag": "a",
                "sdp": _sdp(offer_a.rtp_port, [
                    (1, offer_a.suite, offer_a.master_key + offer_a.master_salt),
                    (2, offer_a.suite, other),
                ]),
                "ICE": "remove", "replace": ["origin", "session-connection"],
            })
            # same suite: the callee takes the caller's second line; another suite (the
            # callee's offer says which): rtpengine's own line of that suite
            if offer_b.suite != offer_a.suite:
                tag = _crypto_tag(offered["sdp"], offer_b.suite)
            else:
                tag = 2 if self.recrypt else 1  # 1: the control, equal keys both ways
            answered = self.command({
                "command": "answer", "call-id": call, "from-tag": "a", "to-tag": "b",
                "sdp": _sdp(offer_b.rtp_port, [
                    (tag, offer_b.suite, offer_b.master_key + offer_b.master_salt),
                ]),
                "ICE": "remove", "replace": ["origin", "session-connection"],
            })
            self._calls.append((call, "a"))
            answers.append([
                SimpleNamespace(relay_host="127.0.0.1", relay_port=_media_port(answered["sdp"])),
                SimpleNamespace(relay_host="127.0.0.1", relay_port=_media_port(offered["sdp"])),
            ])
        return answers

    def cpu(self) -> float:
        """The daemon's CPU seconds so far (user + system, every thread)."""
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICK

    def send(self, message: tuple[str, Any]) -> None:
        """The benchmark relay's command interface (see media_relay.relay_main)."""
        cmd, arg = message
        if cmd == "setup":
            self._reply = self._setup(arg)
        elif cmd == "cpu":
            self._reply = self.cpu()
        elif cmd == "totals":
            self._reply = {"packets_out": None}  # the generator counts deliveries
        elif cmd == "fork_stats":
            self._reply = {"fork_drops": 0, "recorded_bytes": 0}
        elif cmd == "release":
            for call, tag in self._calls:
                self.command({"command": "delete", "call-id": call, "from-tag": tag})
            self._calls.clear()
            self._reply = {"sessions": 0, "ports_in_use": 0}
        else:
            raise ValueError(cmd)

    def recv(self) -> Any:
        """The reply to the last :meth:`send`."""
        return self._reply

    def close(self) -> None:
        """Stop the daemon."""
        self.ng.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def rtpengine_runs(
    calls_list: list[int], seconds: float, run_load: Any, suite_b: Any, recrypt: bool = True
) -> list[dict[str, Any]]:
    """The generator's loads through rtpengine; [] (and a note on stderr) when it cannot run.
    ``recrypt=False``: the pass-through control (see the module's doc)."""
    import sys

    try:
        relay = RtpengineRelay(recrypt)
    except (OSError, RuntimeError) as exc:
        print(f"rtpengine not measured: {exc}", file=sys.stderr)
        return []
    runs = []
    try:
        for calls in calls_list:
            run = run_load(relay, calls, seconds, suite_b=suite_b)
            run["mode"] = "rtpengine" if recrypt else "rtpengine_passthrough"
            runs.append(run)
            print(json.dumps(run), file=sys.stderr)
    finally:
        relay.close()
    return runs
