"""Start a newsbeam driver on the Flink session cluster only once no other newsbeam job writes its lake.

Never run against a real Flink cluster: this project's machines have no cluster. tests/test_deploy.py runs
it against a stand-in for Flink's REST API (``GET /jobs/overview``, ``PATCH /jobs/<id>?mode=cancel``).

    python /opt/newsbeam/single_job.py --flink-rest http://newsbeam-flink-rest:8081 [--ok-exit-code 3] \\
        -- newsbeam stream ... --job_name=newsbeam-stream ...

Why: on Flink the job runs on the cluster, not in the driver's pod. A driver killed outright (SIGKILL, OOM,
a lost node) leaves its job running and committing to the lake, and the next driver would start a second
one: two writers on one lake. (With Prism inside the pod, the job dies with the pod.) So, before the driver:

1. Unfinished jobs named like this command's ``--job_name`` are leftovers of an earlier driver of the same
   kind (one stream Deployment, one backfill at a time): they are cancelled, and waited for until Flink
   reports them cancelled. The lake's recovery finishes or undoes a commit such a cancel cut short.
2. Any other unfinished job whose name starts with ``--prefix`` belongs to another driver on the same lake
   (a backfill while the stream starts, say): nothing is cancelled, and this exits 1 so the pod retries.
3. Then the command replaces this process (``exec``: SIGTERM reaches newsbeam directly), or, with
   ``--ok-exit-code N``, runs as a child whose exit code N is reported as 0 (SIGTERM and SIGINT forwarded).

Standard library only: it runs in the newsbeam image.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any

FINISHED = frozenset({"FINISHED", "CANCELED", "FAILED"})
"""Flink job states after which a job writes nothing more (SUSPENDED may resume, so it counts as live)."""


def job_name(command: Sequence[str]) -> str | None:
    """The ``--job_name`` Beam gives the Flink job (``--job_name=X`` or ``--job_name X``)."""
    for index, token in enumerate(command):
        if token.startswith("--job_name="):
            return token.split("=", 1)[1]
        if token == "--job_name" and index + 1 < len(command):
            return command[index + 1]
    return None


def plan(jobs: Sequence[dict[str, Any]], name: str, prefix: str) -> tuple[list[str], list[str]]:
    """``(ids to cancel, descriptions of jobs that forbid starting)`` from a ``/jobs/overview`` list."""
    cancel, blocking = [], []
    for job in jobs:
        if job.get("state") in FINISHED:
            continue
        if job.get("name") == name:
            cancel.append(str(job["jid"]))
        elif str(job.get("name", "")).startswith(prefix):
            blocking.append(f"{job.get('name')} ({job.get('jid')}, {job.get('state')})")
    return cancel, blocking


def _request(rest: str, method: str, path: str, timeout: float) -> Any:
    request = urllib.request.Request(rest.rstrip("/") + path, method=method)
    with urllib.request.urlopen(request, timeout=timeout) as response:
        body = response.read()
    return json.loads(body) if body else None


def live_jobs(rest: str, timeout: float) -> list[dict[str, Any]]:
    jobs: list[dict[str, Any]] = _request(rest, "GET", "/jobs/overview", timeout)["jobs"]
    return jobs


def clear(rest: str, name: str, prefix: str, wait: float, report: Callable[[str], None] = print) -> bool:
    """Cancel the leftovers of ``name`` and wait for them; False if another driver's job runs or time runs out."""
    deadline = time.monotonic() + wait
    asked: set[str] = set()
    while True:
        try:
            cancel, blocking = plan(live_jobs(rest, timeout=10), name, prefix)
        except (OSError, ValueError, KeyError) as error:  # URLError is an OSError
            cancel, blocking = None, [f"Flink REST API at {rest} not answering: {error}"]
        if cancel is not None and blocking:
            report(f"single_job: other newsbeam jobs run on this cluster, not starting: {'; '.join(blocking)}")
            return False
        if cancel == []:
            return True
        for jid in cancel or []:
            if jid not in asked:
                report(f"single_job: cancelling {name} job {jid}, left running by an earlier driver")
                try:
                    _request(rest, "PATCH", f"/jobs/{jid}?mode=cancel", timeout=10)
                    asked.add(jid)
                except (OSError, ValueError) as error:  # asked again on the next round
                    report(f"single_job: cancelling {jid} failed: {error}")
        if time.monotonic() > deadline:
            report(f"single_job: gave up after {wait:.0f} s: {'; '.join(blocking) or ', '.join(cancel or [])}")
            return False
        time.sleep(1.0)


def run(command: Sequence[str], ok_codes: set[int]) -> int:
    """The command as a child; exit codes in ``ok_codes`` become 0; SIGTERM and SIGINT are passed on."""
    child = subprocess.Popen(list(command))
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: child.send_signal(signum))
    code = child.wait()
    return 0 if code in ok_codes else code


def parse(argv: Sequence[str] | None = None) -> tuple[argparse.Namespace, list[str], str]:
    """``(options, the driver's command, its Flink job name)``; exits 2 on a wrong command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--flink-rest", required=True, help="Flink REST endpoint, e.g. http://NAME-rest:8081")
    parser.add_argument("--prefix", default="newsbeam", help="job names that write this cluster's lake")
    parser.add_argument("--wait", type=float, default=180.0, help="seconds to wait for cancelled jobs to end")
    parser.add_argument("--ok-exit-code", type=int, action="append", default=[], help="report this exit code as 0")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the driver's command line")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    name = job_name(command)
    if not command or not name:
        parser.error("give the driver's command after --, with --job_name=NAME (the Flink job's name)")
    if not name.startswith(args.prefix):
        parser.error(f"--job_name {name} does not start with --prefix {args.prefix}")
    return args, command, name


def main(argv: Sequence[str] | None = None) -> int:
    args, command, name = parse(argv)
    if not clear(args.flink_rest, name, args.prefix, args.wait):
        return 1
    sys.stdout.flush()
    if args.ok_exit_code:
        return run(command, set(args.ok_exit_code))
    os.execvp(command[0], command)
    return 1  # not reached


if __name__ == "__main__":
    sys.exit(main())
