"""Speech to text on our own machines: word error rate and real-time factor.

A fixed set of 24 voicemail-like sentences (names, times, phone digits, punctuation) is
synthesised with festival's HTS voice (``text2wave``, voice cmu_us_slt_arctic_hts), sent
through the telephone band (``sox``: 8 kHz mono G.711 u-law, what a caller's leg carries),
and transcribed on the same audio by:

- ours: ``fabric.transcribe.whisper.FasterWhisperEngine`` (Whisper base, CTranslate2 int8,
  ``transcription.cpu_threads`` threads, beam 1, language en) from the installed model
  (``transcription.model_dir``; the engine decodes the u-law WAV itself, in memory);
- baseline: pocketsphinx 5 (its en-us model from its wheel) on the same audio at 16 kHz.

Scoring: both the reference and the transcripts are normalised before WER: lower case,
punctuation dropped (an apostrophe kept inside words, o'clock -> oclock), and numbers put in
one form: number words become digits ("three thirty" -> 330, "twenty minutes" -> 20 minutes)
and adjacent digit groups join ("555-4729" and "five five five four seven two nine" ->
5554729). WER is over the whole set (jiwer, word-level edit distance / reference words).
RTF is engine seconds / audio seconds summed over the set, after one warm-up clip (the model
load is reported apart).

Targets (issue 10): WER <= 0.10 and RTF <= 0.3 on this 2-core machine. Needs
``make bench-deps`` (festival, the HTS voice, sox, the bench extra). Usage:
python benchmarks/transcribe.py [--sentences N] [--show]. Prints one JSON line last.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fabric.config import load_settings  # noqa: E402
from fabric.transcribe.whisper import engine_from_settings  # noqa: E402

SENTENCES = [
    "Hi, this is Dana from the dentist's office, please call me back about your appointment.",
    "The package you ordered has arrived at the front desk.",
    "This is a reminder that the team meeting moves to three thirty tomorrow.",
    "Hey, it's Sam. I'm running late, start the meeting without me.",
    "Your prescription is ready for pickup at the pharmacy.",
    "Please call me back at five five five, four seven two nine.",
    "The delivery truck will arrive between nine and eleven in the morning.",
    "I wanted to confirm our lunch on Friday at noon.",
    "Your account balance is past due, please contact our billing department.",
    "We received your application and will be in touch next week.",
    "The plumber can come by on Monday afternoon to fix the leak.",
    "Could you send me the report before the end of the day?",
    "Your flight has been delayed by two hours because of the weather.",
    "Thanks for your order, it will ship within three business days.",
    "I left my keys in the conference room, can you check for me?",
    "The school called to say the bus will be twenty minutes late.",
    "Please bring your insurance card to your next visit.",
    "Our office will be closed on Thursday for the holiday.",
    "The car is ready, you can pick it up any time after four o'clock.",
    "I'm calling about the apartment you listed for rent.",
    "Your table for six is booked for seven fifteen this evening.",
    "Let me know if you need anything else from me.",
    "The password reset code is eight one three six.",
    "Good morning, this is your wake up call.",
]

_UNITS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen".split())}
_TENS = {w: 10 * (i + 2) for i, w in enumerate(
    "twenty thirty forty fifty sixty seventy eighty ninety".split())}


def normalise(text: str) -> str:
    """Lower case, no punctuation, numbers as joined digit groups (see the module doc)."""
    text = text.lower().replace("o'clock", "oclock")
    text = re.sub(r"(?<=\d)[-:.,/ ]+(?=\d)", "", text)  # 555-4729, 3:30, 7.15 -> one group
    text = re.sub(r"[^a-z0-9' ]+", " ", text.replace("-", " "))
    words = [w.strip("'") for w in text.split()]
    out: list[str] = []
    digits = False  # the last token is a digit group that a number may join
    i = 0
    while i < len(words):
        w = words[i]
        value: str | None = None
        if w in _TENS:
            n = _TENS[w]
            if i + 1 < len(words) and words[i + 1] in _UNITS and 0 < _UNITS[words[i + 1]] < 10:
                n += _UNITS[words[i + 1]]
                i += 1
            value = str(n)
        elif w in _UNITS:
            value = str(_UNITS[w])
        elif w.isdigit():
            value = w
        if value is not None:
            if digits:
                out[-1] += value
            else:
                out.append(value)
            digits = True
        elif w:
            out.append(w)
            digits = False
        i += 1
    return " ".join(out)


def synthesise(text: str, folder: Path, n: int) -> Path:
    """The sentence as festival's HTS voice says it, through G.711 u-law at 8 kHz."""
    txt, wav, call = folder / f"{n}.txt", folder / f"{n}-tts.wav", folder / f"{n}.wav"
    txt.write_text(text + "\n")
    subprocess.run(["text2wave", "-eval", "(voice_cmu_us_slt_arctic_hts)", str(txt),
                    "-o", str(wav)], check=True, capture_output=True)
    subprocess.run(["sox", str(wav), "-r", "8000", "-c", "1", "-e", "u-law", str(call)],
                   check=True, capture_output=True)
    return call


def pcm16k(call: Path) -> bytes:
    """The u-law clip as 16 kHz signed 16-bit mono PCM (pocketsphinx's input)."""
    return subprocess.run(
        ["sox", str(call), "-t", "raw", "-r", "16000", "-e", "signed", "-b", "16", "-c", "1",
         "-"], check=True, capture_output=True).stdout


def seconds_of(call: Path) -> float:
    """The clip's length (sox)."""
    out = subprocess.run(["soxi", "-D", str(call)], check=True, capture_output=True, text=True)
    return float(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=len(SENTENCES))
    parser.add_argument("--show", action="store_true", help="print each transcript")
    args = parser.parse_args()
    for tool in ("text2wave", "sox", "soxi"):
        if shutil.which(tool) is None:
            sys.exit(f"benchmarks/transcribe.py needs {tool}: run `make bench-deps`")
    import jiwer
    from pocketsphinx import Decoder

    settings = load_settings().transcription
    started = time.perf_counter()
    engine = engine_from_settings(settings)
    load_s = time.perf_counter() - started
    decoder = Decoder(samprate=16000, logfn=os.devnull)
    texts = SENTENCES[: args.sentences]
    with TemporaryDirectory(prefix="bench-transcribe-") as tmp:
        clips = [synthesise(t, Path(tmp), n) for n, t in enumerate(texts)]
        audio = [seconds_of(c) for c in clips]
        engine.transcribe(clips[0].read_bytes(), "en")  # warm-up
        ours, theirs, ours_s, theirs_s = [], [], 0.0, 0.0
        for n, clip in enumerate(clips):
            wav = clip.read_bytes()
            t0 = time.perf_counter()
            ours.append(engine.transcribe(wav, "en").text)
            ours_s += time.perf_counter() - t0
            raw = pcm16k(clip)
            t0 = time.perf_counter()
            decoder.start_utt()
            decoder.process_raw(raw, full_utt=True)
            decoder.end_utt()
            hyp = decoder.hyp()
            theirs.append(hyp.hypstr if hyp is not None else "")
            theirs_s += time.perf_counter() - t0
            if args.show:
                print(f"[{n}] ref:         {texts[n]}\n    whisper:     {ours[-1]}\n"
                      f"    pocketsphinx: {theirs[-1]}")
    refs = [normalise(t) for t in texts]
    wer = jiwer.wer(refs, [normalise(t) for t in ours])
    baseline = jiwer.wer(refs, [normalise(t) for t in theirs])
    total = sum(audio)
    print(json.dumps({
        "bench": "transcribe",
        "value": round(wer, 4),
        "unit": "WER (normalised, lower is better)",
        "baseline": round(baseline, 4),
        "ratio": round(wer / baseline, 3) if baseline else None,
        "rtf": round(ours_s / total, 3),
        "baseline_rtf": round(theirs_s / total, 3),
        "target_wer": 0.10,
        "target_rtf": 0.3,
        "engine": f"{engine.name} whisper-base int8 threads={settings.cpu_threads} "
                  f"beam={settings.beam_size}",
        "baseline_engine": "pocketsphinx 5 en-us",
        "sentences": len(texts),
        "audio_s": round(total, 1),
        "model_load_s": round(load_s, 2),
        "cpus": os.cpu_count(),
        "loadavg_1m": round(os.getloadavg()[0], 2),
    }))


if __name__ == "__main__":
    main()
