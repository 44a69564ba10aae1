"""Build the wheel offline and prove it stands alone (``make wheel``; CI runs it).

1. ``python -m build --wheel --no-isolation``: the build backend comes from the lock, nothing is
   downloaded.
2. The wheel holds only the ``newsbeam`` package and its ``.dist-info``.
3. A new venv outside the repository gets ``deploy/requirements.lock`` (hashes checked) and the
   wheel (``--no-deps``); ``pip check`` then proves the wheel's declared dependencies are met.
4. There, from a folder that is not the repository: ``newsbeam --help``, ``newsbeam --version``,
   ``import newsbeam``, and the README's own-pipeline example with its expected output.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from test_library import check_example_output, run_readme_example  # noqa: E402


def step(command: list[str], cwd: Path) -> str:
    print("+", " ".join(command), flush=True)
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"wheel check failed at: {' '.join(command)}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    return done.stdout


def build(dist: Path) -> Path:
    shutil.rmtree(dist, ignore_errors=True)
    # setuptools reuses build/lib: a module deleted since the last build would otherwise stay in the wheel
    shutil.rmtree(ROOT / "build", ignore_errors=True)
    step([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist), str(ROOT)], ROOT)
    (wheel,) = dist.glob("newsbeam-*.whl")
    return wheel


def top_level_entries(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return {name.split("/")[0] for name in archive.namelist()}


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="newsbeam-wheel-") as folder:
        work = Path(folder)
        wheel = build(work / "dist")
        entries = top_level_entries(wheel)
        expected = {"newsbeam", wheel.name.split("-py")[0] + ".dist-info"}
        if entries != expected:
            raise SystemExit(f"wheel check failed: {wheel.name} holds {sorted(entries)}, expected {sorted(expected)}")
        print(f"{wheel.name}: only {sorted(entries)}")
        venv = work / "venv"
        step([sys.executable, "-m", "venv", str(venv)], work)
        python, pip = str(venv / "bin" / "python"), [str(venv / "bin" / "python"), "-m", "pip"]
        quiet = ["--quiet", "--disable-pip-version-check"]
        lock = str(ROOT / "deploy" / "requirements.lock")
        step([*pip, "install", *quiet, "--require-hashes", "--no-deps", "-r", lock], work)
        step([*pip, "install", *quiet, "--no-deps", str(wheel)], work)
        step([*pip, "check"], work)
        step([str(venv / "bin" / "newsbeam"), "--help"], work)
        print(step([str(venv / "bin" / "newsbeam"), "--version"], work).strip())
        located = step([python, "-c", "import newsbeam; print(newsbeam.__file__)"], work).strip()
        if not located.startswith(str(venv)):
            raise SystemExit(f"wheel check failed: import newsbeam found {located}, not the installed wheel")
        example = work / "example"
        example.mkdir()
        done = run_readme_example(python, example)
        if done.returncode != 0:
            raise SystemExit(f"wheel check failed: the README example exited {done.returncode}\n{done.stderr[-3000:]}")
        check_example_output(example)
        print("wheel check passed: installs alone; --help, --version, import and the README example work")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
