"""`playerplatform ugc check-scanner`, run as an operator would (its own process)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.servers import free_port

CLAMD = os.environ.get("PP_TEST_CLAMD_ADDRESS", "tcp://127.0.0.1:3310")
CLI = Path(sys.executable).with_name("playerplatform")


def _check_scanner(address: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PP_")}
    return subprocess.run(
        [str(CLI), "ugc", "check-scanner"],
        env={**env, "PP_CLAMD_ADDRESS": address},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_check_scanner_reports_clamd_and_its_absence() -> None:
    answered = _check_scanner(CLAMD)
    assert answered.returncode == 0 and "ClamAV" in answered.stdout
    down = _check_scanner(f"tcp://127.0.0.1:{free_port()}")
    assert down.returncode == 1 and "does not answer" in down.stderr
    unset = _check_scanner("")
    assert unset.returncode == 0 and "no scanner" in unset.stdout
