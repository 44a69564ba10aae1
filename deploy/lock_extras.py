"""Regenerate the engine images' lock files (run it after ``make lock``): ``.venv/bin/python deploy/lock_extras.py``.

Neither image was built here (no Docker engine on this project's machines); the locks were resolved with uv.

- ``deploy/flink/requirements.lock``: the runtime of ``deploy/requirements.lock`` plus ``apache-beam[aws]`` at
  the locked Beam version (boto3, so drivers and SDK workers read ``s3://`` WARCs). Every package the two
  locks share has the same version.
- ``deploy/dataflow/requirements.lock``: the same plus ``apache-beam[gcp]`` (the DataflowRunner's client and
  ``gs://``). One package cannot stay at its locked version, see ``RELAXED``.

Like ``scripts/lock.py`` (``make lock``): uv, CPython 3.11 on x86-64 Linux, with hashes, the build backend
locked too. ``tests/test_deploy.py`` checks the shared versions still agree.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEPLOY_LOCK = ROOT / "deploy" / "requirements.lock"
PYTHON_VERSION = "3.11"
PLATFORM = "x86_64-unknown-linux-gnu"
COMMAND = ".venv/bin/python deploy/lock_extras.py"

EXTRAS = {
    ROOT / "deploy" / "flink" / "requirements.lock": "aws",
    ROOT / "deploy" / "dataflow" / "requirements.lock": "gcp",
}
RELAXED = {
    "gcp": {
        # apache-beam[gcp] 2.78.0 needs google-cloud-aiplatform, and every google-genai release it can use
        # (up to 2.34.0) requires tenacity<9.2; deploy/requirements.lock pins tenacity 9.2.1.
        "tenacity": "google-genai (via apache-beam[gcp] -> google-cloud-aiplatform) requires tenacity<9.2",
    },
}
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s\\;]+)")


def pins(path: Path) -> dict[str, str]:
    """``{normalized name: version}`` of a uv lock file."""
    found = {}
    for line in path.read_text().splitlines():
        match = _PIN.match(line)
        if match:
            found[re.sub(r"[-_.]+", "-", match.group(1)).lower()] = match.group(2)
    return found


def main() -> int:
    beam = pins(DEPLOY_LOCK)["apache-beam"]
    with open(ROOT / "pyproject.toml", "rb") as handle:
        backend = tomllib.load(handle)["build-system"]["requires"]
    for output, extra in EXTRAS.items():
        relaxed = RELAXED.get(extra, {})
        with tempfile.TemporaryDirectory() as folder:
            build_in = Path(folder) / "build-system.requires"
            build_in.write_text("\n".join(backend) + "\n")
            extra_in = Path(folder) / f"apache-beam-{extra}.in"
            extra_in.write_text(f"apache-beam[{extra}]=={beam}\n")
            constraints = Path(folder) / "deploy-requirements.lock"
            constraints.write_text(
                "".join(f"{name}=={version}\n" for name, version in pins(DEPLOY_LOCK).items() if name not in relaxed)
            )
            command = [
                *(sys.executable, "-m", "uv", "pip", "compile"),
                *("pyproject.toml", str(build_in), str(extra_in)),
                *("--constraint", str(constraints), "--generate-hashes"),
                *("--python-version", PYTHON_VERSION, "--python-platform", PLATFORM),
                *("--custom-compile-command", COMMAND, "--quiet", "-o", str(output)),
            ]
            subprocess.run(command, cwd=ROOT, check=True)
            text = output.read_text()
            for temporary, name in ((build_in, "build-system.requires"), (extra_in, f"apache-beam[{extra}]")):
                text = text.replace(str(temporary), name)
            output.write_text(text.replace(str(constraints), "deploy/requirements.lock"))
        print(f"{output.relative_to(ROOT)}: {len(pins(output))} packages pinned (apache-beam[{extra}]=={beam})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
