"""The live progress of ``newsbeam run``: a tqdm line on a terminal, log lines elsewhere, none with --quiet."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import random
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

from newsbeam.pipeline.progress import count_records, snapshot_line

RECORDS = 120
WORDS = "council harbor ferry budget school river market bridge weather festival museum library police".split()


def write_input(path: Path) -> Path:
    rng = random.Random(7)
    with path.open("w") as out:
        for i in range(RECORDS):
            text = " ".join(" ".join(rng.choice(WORDS) for _ in range(12)) + "." for _ in range(15))
            html = f"<html><body><article><h1>Title {i}</h1><p>{text}</p></article></body></html>"
            out.write(json.dumps({"url": f"https://x{i % 4}.example/{i}", "html": html}) + "\n")
        out.write("\n")  # a blank line is no record
    return path


def command(tmp_path: Path, *extra: str) -> list[str]:
    source = write_input(tmp_path / "in.jsonl")
    return [sys.executable, "-m", "newsbeam", "run", "--input", str(source), "--output", str(tmp_path / "lake"), *extra]


def test_on_a_terminal_a_tqdm_line_updates_in_place(tmp_path: Path) -> None:
    main_end, worker_end = pty.openpty()
    fcntl.ioctl(worker_end, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))  # a real terminal has a size
    child = subprocess.Popen(command(tmp_path), stdin=worker_end, stdout=worker_end, stderr=worker_end, close_fds=True)
    os.close(worker_end)
    output = b""
    while True:
        try:
            chunk = os.read(main_end, 65536)
        except OSError:  # the terminal closes when the child exits
            break
        if not chunk:
            break
        output += chunk
    assert child.wait(timeout=300) == 0, output[-2000:]
    os.close(main_end)
    text = output.decode("utf-8", "replace")
    assert "\r" in text, "a terminal line is redrawn in place"
    assert re.search(rf"newsbeam: .*{RECORDS}/{RECORDS} \[.*inputs/s.*tagged={RECORDS}.*dead_letters=0", text), text[
        -1500:
    ]
    assert "progress:" not in text, "no log lines on a terminal"


def test_elsewhere_it_logs_a_line_every_interval(tmp_path: Path) -> None:
    done = subprocess.run(
        command(tmp_path, "--progress-interval", "0.5"), capture_output=True, text=True, timeout=300, check=True
    )
    lines = [line for line in done.stderr.splitlines() if " progress: " in line]
    assert len(lines) >= 2, done.stderr
    assert all(re.search(rf"progress: \d+/{RECORDS} inputs cleaned, [\d.]+/s", line) for line in lines), lines
    assert f"{RECORDS}/{RECORDS} inputs cleaned" in lines[-1] and f"{RECORDS} tagged" in lines[-1]
    assert "0 dead letters" in lines[-1] and "\r" not in done.stderr


def test_quiet_shows_no_progress(tmp_path: Path) -> None:
    done = subprocess.run(
        command(tmp_path, "--quiet", "--progress-interval", "0.2"),
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    assert "progress:" not in done.stderr and "\r" not in done.stderr
    assert "articles tagged" in done.stdout, "the summary still prints"


def test_snapshot_line_and_record_count(tmp_path: Path) -> None:
    line = snapshot_line({"extracted": 30, "text_from_feed": 10, "articles_tagged": 5, "dead_letters": 2}, 80, 4.0)
    assert line.startswith("progress: 40/80 inputs cleaned, 10.0/s, ETA 4 s; 5 tagged, 0 duplicates, 2 dead letters")
    assert "ETA" not in snapshot_line({"extracted": 3}, None, 1.0)
    assert count_records(str(write_input(tmp_path / "in.jsonl"))) == RECORDS
