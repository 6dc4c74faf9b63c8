"""Helpers shared by the Ray tests: tiny and long digits configs, the venv's ``ray`` CLI, a free
local port and the Ray processes running on this machine."""
from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

TINY = {"dataset": {"name": "digits", "params": {"max_per_class": 30}}, "model": "small_cnn",
        "epochs": 1, "batch_size": 64, "seed": 0}
LONG = {**TINY, "dataset": {"name": "digits", "params": {"max_per_class": 100}}, "epochs": 200, "batch_size": 16}
RAY = str(Path(sys.executable).with_name("ray"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ray_processes() -> list[str]:
    """Command lines of running raylet / gcs_server processes (any Ray cluster of this machine)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        if "/raylet" in cmd.split(" ", 1)[0] or "gcs_server" in cmd.split(" ", 1)[0]:
            found.append(f"{proc.name}: {cmd[:200]}")
    return found


def ray_cli(*args: str, env: dict) -> None:
    res = subprocess.run([RAY, *args], env=env, capture_output=True, text=True, timeout=120)
    if res.returncode != 0:
        raise RuntimeError(f"ray {' '.join(args)} failed:\n{res.stdout[-2000:]}\n{res.stderr[-2000:]}")
