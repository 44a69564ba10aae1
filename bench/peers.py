"""Peers on the same pages, CPU only: news-please, newspaper4k and Fundus article extraction.

Each peer lives in its own virtualenv under ``bench/tmp/peers/<name>`` (git-ignored), made with
``python -m venv`` and pip from PyPI on first use, so peers never become newsbeam dependencies
and cannot clash with each other (Fundus 0.5.7 needs an older curl_cffi than pip picks, for one).
Versions are pinned so the comparison means the same thing on every machine.

Fundus has one hand-written parser per publisher, so it only runs on the publisher pages.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bench.common import TMP, last_json_line, log, median, rounded, run_child, skipped
from bench.corpus import CorpusPage, token_f1

PEERS: dict[str, tuple[str, ...]] = {
    "news-please": ("news-please==1.6.16",),
    "newspaper4k": ("newspaper4k==0.9.6",),
    "fundus": ("fundus==0.5.7", "curl_cffi==0.15.0"),
}
VENVS = TMP / "peers"
WORKER = Path(__file__).resolve().parent / "peer_worker.py"


def ensure_peer(name: str) -> tuple[Path | None, dict[str, Any]]:
    """The peer's interpreter, installing it if its pinned requirements are not there yet."""
    folder = VENVS / name
    python = folder / "bin" / "python"
    stamp = folder / "bench-requirements.txt"
    wanted = "\n".join(PEERS[name]) + "\n"
    info: dict[str, Any] = {"requirements": list(PEERS[name])}
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        info["installed"] = "cached"
        return python, info
    log(f"peers: installing {name} into {folder} (first run only)")
    started = time.perf_counter()
    try:
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True, capture_output=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *PEERS[name]],
            check=True,
            capture_output=True,
            timeout=900,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as error:
        detail = getattr(error, "stderr", b"") or b""
        reason = f"could not install {name}: {error} {detail.decode(errors='replace')[-300:]}"
        return None, {**info, **skipped(reason)}
    stamp.write_text(wanted)
    info["installed"] = f"now, in {time.perf_counter() - started:.0f} s"
    return python, info


def _quality(texts: Mapping[str, str], pages: Sequence[CorpusPage]) -> dict[str, Any]:
    """Token F1 against the gold text, per page, summarised per corpus set."""
    by_set: dict[str, dict[str, Any]] = {}
    for set_name in sorted({p.set for p in pages}):
        scores = [
            token_f1(texts.get(_key(p), ""), p.gold) for p in pages if p.set == set_name and p.gold and _key(p) in texts
        ]
        if not scores:
            continue
        by_set[set_name] = {
            "pages": len(scores),
            "mean_f1": rounded(sum(f for _, _, f in scores) / len(scores)),
            "median_f1": rounded(median([f for _, _, f in scores])),
            "mean_precision": rounded(sum(p for p, _, _ in scores) / len(scores)),
            "mean_recall": rounded(sum(r for _, r, _ in scores) / len(scores)),
            "empty": sum(1 for p in pages if p.set == set_name and not texts.get(_key(p))),
        }
    return by_set


def _key(page: CorpusPage) -> str:
    return f"{page.set}:{page.id}"


def run_peers(
    pages: Sequence[CorpusPage], newsbeam_texts: Mapping[str, str], newsbeam_seconds: Sequence[float], repeats: int
) -> dict[str, Any]:
    """Every peer on ``pages`` (Fundus on its publishers' pages), with newsbeam's cleaning beside them."""
    result: dict[str, Any] = {
        "newsbeam_clean": {
            "extractor": "newsbeam clean_page (trafilatura bare_extraction + metadata + language)",
            "pages": len(pages),
            "pages_per_second": rounded(len(pages) / median(newsbeam_seconds)),
            "passes": len(newsbeam_seconds),
            "quality": _quality({_key(p): newsbeam_texts.get(p.url, "") for p in pages}, pages),
        }
    }
    fundus_pages = [p for p in pages if p.publisher]
    if fundus_pages:
        subset = {_key(p): newsbeam_texts.get(p.url, "") for p in fundus_pages}
        result["newsbeam_clean"]["quality_on_fundus_pages"] = _quality(subset, fundus_pages)
    for name in PEERS:
        chosen = fundus_pages if name == "fundus" else list(pages)
        if not chosen:
            result[name] = skipped("no pages it applies to")
            continue
        python, info = ensure_peer(name)
        if python is None:
            result[name] = info
            continue
        path = TMP / f"peer-pages-{name}.jsonl"
        with path.open("w", encoding="utf-8") as out:
            for page in chosen:
                record = {
                    "id": _key(page),
                    "url": page.url,
                    "html": page.html,
                    "publisher": page.publisher,
                    "crawl_date": page.crawl_date,
                }
                out.write(json.dumps(record) + "\n")
        log(f"peers: {name} on {len(chosen)} pages")
        child = run_child(
            [str(python), str(WORKER), name, str(path), str(repeats)], timeout=1800, env={"PYTHONPATH": ""}
        )
        path.unlink(missing_ok=True)
        if child.returncode != 0:
            result[name] = {**info, **skipped(f"{name} failed: {child.stderr[-500:]}")}
            continue
        output = last_json_line(child.stdout)
        texts: dict[str, str] = output["texts"]
        result[name] = {
            **info,
            "version": output["version"],
            "pages": len(chosen),
            "pages_per_second": rounded(len(chosen) / median(output["passes"])),
            "passes": len(output["passes"]),
            "setup_seconds": rounded(output["setup_seconds"]),
            "max_rss_mib": rounded(child.max_rss_mib, 1),
            "errors": len(output["errors"]),
            "quality": _quality(texts, chosen),
        }
    return result
