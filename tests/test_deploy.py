"""deploy/ agrees with the project: image tags, Beam and Flink versions, command lines, ports, mounts, locks.

Nothing in deploy/ can run here (no Docker engine, no Kubernetes, no Flink or Dataflow, no Beam job server
downloads), so these tests read the files and check them against pyproject.toml, the lock files, newsbeam's own
command-line parser and the installed Beam. The one piece of code that can run, deploy/flink/single_job.py,
runs against a stand-in for Flink's REST API.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import shlex
import shutil
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from apache_beam.options import pipeline_options as beam_options

from newsbeam.pipeline.cli import build_parser
from newsbeam.pipeline.runners import PORTABLE_RUNNERS, pipeline_options
from newsbeam.pipeline.stream import DRAIN_GRACE

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
FLINK = DEPLOY / "flink"
DATAFLOW = DEPLOY / "dataflow"
NEWSBEAM_IMAGE = re.compile(r"\bnewsbeam(?:-[a-z]+)?:(\d[\w.+-]*)")
JOB_SERVER_IMAGE = re.compile(r"apache/beam_flink_job_server:([\w.]+)-flink(\d+\.\d+)")
OLD_JOB_SERVER_IMAGE = re.compile(r"apache/beam_flink(\d+\.\d+)_job_server:([\w.]+)")
SDK_IMAGE = re.compile(r"apache/beam_python(\d+\.\d+)_sdk:([\w.]+)")
PRISM = re.compile(r"go/cmd/prism@v([\w.]+)")
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s\\;]+)")
ENGINE_LOCKS = {FLINK / "requirements.lock": set(), DATAFLOW / "requirements.lock": {"tenacity"}}
"""Engine image locks and the packages allowed to differ from deploy/requirements.lock (deploy/lock_extras.py)."""


# --- reading the project ---------------------------------------------------------------------------------------


def project_version() -> str:
    with open(ROOT / "pyproject.toml", "rb") as handle:
        return str(tomllib.load(handle)["project"]["version"])


def pins(path: Path) -> dict[str, str]:
    found = {}
    for line in path.read_text().splitlines():
        match = _PIN.match(line)
        if match:
            found[re.sub(r"[-_.]+", "-", match.group(1)).lower()] = match.group(2)
    return found


BEAM = pins(ROOT / "requirements.lock")["apache-beam"]


def load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def deploy_texts() -> dict[Path, str]:
    """Every text file in deploy/ except the lock files (whose hashes would only add noise)."""
    return {
        path: path.read_text()
        for path in sorted(DEPLOY.rglob("*"))
        if path.is_file() and path.suffix != ".lock" and "__pycache__" not in path.parts
    }


def manifests() -> dict[Path, list[dict[str, Any]]]:
    return {path: [d for d in yaml.safe_load_all(path.read_text()) if d] for path in sorted(DEPLOY.rglob("*.yaml"))}


def pod_specs(doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
    kind, spec = doc["kind"], doc.get("spec", {})
    if kind in ("Deployment", "Job"):
        yield spec["template"]["spec"]
    elif kind == "CronJob":
        yield spec["jobTemplate"]["spec"]["template"]["spec"]
    elif kind == "FlinkDeployment":
        for role in ("jobManager", "taskManager"):
            if "podTemplate" in spec.get(role, {}):
                yield spec[role]["podTemplate"]["spec"]


def containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [*spec.get("initContainers", []), *spec.get("containers", [])]


def all_containers() -> Iterator[tuple[Path, dict[str, Any], dict[str, Any], dict[str, Any]]]:
    """``(manifest, document, pod spec, container)`` for every container in deploy/."""
    for path, docs in manifests().items():
        for doc in docs:
            for spec in pod_specs(doc):
                for container in containers(spec):
                    yield path, doc, spec, container


def is_newsbeam(container: dict[str, Any]) -> bool:
    return bool(NEWSBEAM_IMAGE.fullmatch(container.get("image", "")))


def argv_of(container: dict[str, Any]) -> list[str]:
    """The container's command line; a newsbeam image's entry point is ``newsbeam``."""
    command = container.get("command", ["newsbeam"] if is_newsbeam(container) else [])
    return [*command, *container.get("args", [])]


def newsbeam_command(argv: list[str]) -> list[str] | None:
    """newsbeam's arguments from a container's command line (bare, or after single_job.py's ``--``)."""
    if argv[:1] == ["newsbeam"]:
        return argv[1:]
    if argv[:2] == ["/bin/sh", "-c"] and len(argv) == 3:  # a shell line: its first command
        first = shlex.split(argv[2].split(";", 1)[0])
        return first[1:] if first[:1] == ["newsbeam"] else None
    if len(argv) > 1 and argv[1].endswith("single_job.py"):
        rest = argv[argv.index("--") + 1 :]
        assert rest[:1] == ["newsbeam"], f"single_job.py runs {rest[:1]}, not newsbeam"
        return rest[1:]
    return None


def option(argv: list[str], name: str) -> str | None:
    """The value of ``--name=value`` or ``--name value`` in a command line."""
    for index, token in enumerate(argv):
        if token.startswith(f"{name}="):
            return token.split("=", 1)[1]
        if token == name and index + 1 < len(argv):
            return argv[index + 1]
    return None


def manifest_commands() -> list[tuple[str, list[str]]]:
    found = []
    for path, _doc, _spec, container in all_containers():
        if is_newsbeam(container):
            command = newsbeam_command(argv_of(container))
            if command is not None:
                found.append((f"{path.relative_to(ROOT)}:{container['name']}", command))
    return found


def readme_commands() -> list[tuple[str, list[str]]]:
    """The ``newsbeam …`` command lines in deploy/README.md's shell and cron blocks (comments left out)."""
    found = []
    for block in re.findall(r"```(?:sh|cron)\n(.*?)```", (DEPLOY / "README.md").read_text(), re.S):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            starts = [i for i, word in enumerate(words) if word == "newsbeam" or word.endswith("/bin/newsbeam")]
            if starts:
                command = words[starts[0] + 1 :]
                found.append(
                    (
                        f"deploy/README.md: {line.strip()[:60]}",
                        command[: command.index(">>")] if ">>" in command else command,
                    )
                )
    return found


def unit_commands() -> list[tuple[str, list[str]]]:
    found = []
    for path in sorted(DEPLOY.glob("*.service")):
        for line in path.read_text().splitlines():
            if line.startswith("ExecStart="):
                words = shlex.split(line.split("=", 1)[1])
                assert words[0].endswith("/newsbeam")
                found.append((str(path.relative_to(ROOT)), words[1:]))
    return found


def all_commands() -> list[tuple[str, list[str]]]:
    return [*manifest_commands(), *unit_commands(), *readme_commands()]


def known_beam_flags(beam_args: list[str]) -> list[str]:
    """The arguments no Beam PipelineOptions class knows (as ``PipelineOptions.get_all_options`` parses)."""
    parser = beam_options._BeamArgumentParser(allow_abbrev=False)
    classes = {str(cls): cls for cls in beam_options.PipelineOptions.__subclasses__()}
    for cls in classes.values():
        cls._add_argparse_args(parser)
    _, unknown = parser.parse_known_args(beam_args)
    return [token for token in unknown if token.startswith("-")]


def parse(command: list[str]) -> tuple[argparse.Namespace, list[str]]:
    try:
        return build_parser().parse_known_args(command)
    except SystemExit as error:
        raise AssertionError(f"newsbeam rejects {shlex.join(command)}") from error


def flink_deployment() -> dict[str, Any]:
    docs = [d for d in manifests()[FLINK / "flinkdeployment.yaml"] if d["kind"] == "FlinkDeployment"]
    assert len(docs) == 1
    return docs[0]


def worker_pool() -> dict[str, Any]:
    spec = flink_deployment()["spec"]["taskManager"]["podTemplate"]["spec"]
    pools = [c for c in spec["containers"] if "worker_pool_main" in " ".join(argv_of(c))]
    assert len(pools) == 1, "one Beam SDK worker pool beside each TaskManager"
    return pools[0]


def flink_drivers() -> list[tuple[Path, dict[str, Any], dict[str, Any]]]:
    """``(manifest, pod spec, driver container)`` of the Flink driver pods."""
    found = []
    for path, _doc, spec, container in all_containers():
        if path.parent == FLINK and is_newsbeam(container) and newsbeam_command(argv_of(container)):
            found.append((path, spec, container))
    return found


def job_server(spec: dict[str, Any]) -> dict[str, Any]:
    servers = [c for c in containers(spec) if JOB_SERVER_IMAGE.fullmatch(c.get("image", ""))]
    assert len(servers) == 1, "one Beam Flink job server per driver pod"
    return servers[0]


def mount(container: dict[str, Any], spec: dict[str, Any], path: str) -> tuple[str, str] | None:
    """``(volume source, subPath)`` mounted at ``path`` in the container, or None."""
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    for item in container.get("volumeMounts", []):
        if item["mountPath"] == path:
            volume = volumes[item["name"]]
            source = volume.get("persistentVolumeClaim", {}).get("claimName") or volume.get("configMap", {})["name"]
            return source, item.get("subPath", "")
    return None


def secrets(container: dict[str, Any]) -> set[str]:
    """The Secrets a container takes its environment from."""
    return {item["secretRef"]["name"] for item in container.get("envFrom", []) if "secretRef" in item}


def mount_above(container: dict[str, Any], spec: dict[str, Any], path: str) -> tuple[str, tuple[str, str] | None]:
    """The mount point holding the file ``path`` and what is mounted there."""
    for item in container.get("volumeMounts", []):
        if path.startswith(item["mountPath"].rstrip("/") + "/") or path == item["mountPath"]:
            return item["mountPath"], mount(container, spec, item["mountPath"])
    return "", None


# --- versions ---------------------------------------------------------------------------------------------------


def test_newsbeam_images_carry_the_project_version() -> None:
    version = project_version()
    tagged = [(path, tag) for path, text in deploy_texts().items() for tag in NEWSBEAM_IMAGE.findall(text)]
    assert {tag for _path, tag in tagged} == {version}, f"newsbeam image tags in deploy/: {tagged}"
    images = {(path.name, c["image"]) for path, _doc, _spec, c in all_containers() if is_newsbeam(c)}
    for path in (DEPLOY / "stream.yaml", DEPLOY / "cronjob.yaml", FLINK / "stream.yaml", FLINK / "backfill.yaml"):
        assert (path.name, f"newsbeam{'-flink' if path.parent == FLINK else ''}:{version}") in images, path
    assert worker_pool()["image"] == f"newsbeam-flink:{version}"


def test_beam_version_is_the_locked_one_everywhere() -> None:
    assert pins(DEPLOY / "requirements.lock")["apache-beam"] == BEAM
    for lock in ENGINE_LOCKS:
        assert pins(lock)["apache-beam"] == BEAM, lock
    texts = deploy_texts()
    found: dict[str, list[str]] = {"job server": [], "sdk": [], "prism": []}
    for text in texts.values():
        found["job server"] += [beam for beam, _flink in JOB_SERVER_IMAGE.findall(text)]
        found["job server"] += [beam for _flink, beam in OLD_JOB_SERVER_IMAGE.findall(text)]
        found["sdk"] += [beam for _python, beam in SDK_IMAGE.findall(text)]
        found["prism"] += PRISM.findall(text)
    assert PRISM.findall(texts[DEPLOY / "Dockerfile"]) == [BEAM]
    assert "apache/beam_python3.11_sdk:" in texts[DATAFLOW / "Dockerfile"]
    for kind, versions in found.items():
        assert versions and set(versions) == {BEAM}, f"{kind} references Beam {versions}, the lock has {BEAM}"
    for _python, _beam in SDK_IMAGE.findall("\n".join(texts.values())):
        assert _python == "3.11", "the SDK image's Python is the image's Python (python:3.11-slim)"


def test_flink_version_is_one_the_locked_beam_runs_on() -> None:
    published = beam_options.FlinkRunnerOptions.PUBLISHED_FLINK_VERSIONS  # the installed, locked Beam
    spec = flink_deployment()["spec"]
    flink = spec["flinkVersion"].removeprefix("v").replace("_", ".")
    assert flink in published, f"Beam {BEAM} runs Flink {published}, not {flink}"
    assert re.fullmatch(rf"flink:{re.escape(flink)}(\.\d+)?(-[\w.]+)?", spec["image"]), spec["image"]
    suffixes = {flink_suffix for text in deploy_texts().values() for _b, flink_suffix in JOB_SERVER_IMAGE.findall(text)}
    assert suffixes == {flink}, f"job server images for Flink {suffixes}, the cluster runs {flink}"
    old = [m.group(0) for text in deploy_texts().values() for m in OLD_JOB_SERVER_IMAGE.finditer(text)]
    assert not old, f"Flink 2 job servers are apache/beam_flink_job_server:<beam>-flink<version>, not {old}"


def test_engine_locks_keep_the_deploy_versions() -> None:
    deploy = pins(DEPLOY / "requirements.lock")
    for lock, allowed in ENGINE_LOCKS.items():
        engine = pins(lock)
        assert not set(deploy) - set(engine), f"{lock.name} lacks {set(deploy) - set(engine)}"
        differ = {name for name in deploy if engine[name] != deploy[name]}
        assert differ == allowed, f"{lock.relative_to(ROOT)}: {differ} differ from deploy/requirements.lock"
    assert "boto3" in pins(FLINK / "requirements.lock")
    assert "google-cloud-storage" in pins(DATAFLOW / "requirements.lock")


DOCKERFILES = [
    pytest.param(DEPLOY / "Dockerfile", id="deploy"),
    pytest.param(FLINK / "Dockerfile", id="flink"),
    pytest.param(DATAFLOW / "Dockerfile", id="dataflow"),
]


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_dockerfile_copies_enough_to_build_newsbeam(dockerfile: Path, tmp_path: Path) -> None:
    """The final stage's COPY lines, replayed into a folder, build the newsbeam wheel there (offline)."""
    lines = dockerfile.read_text().replace("\\\n", " ").splitlines()
    stage = max(i for i, line in enumerate(lines) if line.startswith("FROM "))
    context = tmp_path / "image"
    context.mkdir()
    for line in lines[stage:]:
        words = line.split()
        if not words or words[0] != "COPY" or words[1].startswith("--from"):
            continue
        *sources, target = words[1:]
        for source in sources:
            origin = ROOT / source
            assert origin.exists(), f"{dockerfile.relative_to(ROOT)} copies {source}, which does not exist"
            if target.startswith("/"):
                continue  # outside WORKDIR: not part of the build
            destination = context / (Path(target) / origin.name if target.endswith("/") else Path(target))
            destination.parent.mkdir(parents=True, exist_ok=True)
            if origin.is_dir():
                shutil.copytree(origin, destination, symlinks=True)
            else:
                shutil.copy2(origin, destination)
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q"]
    done = subprocess.run([*build, "-w", str(tmp_path / "dist"), str(context)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert list((tmp_path / "dist").glob(f"newsbeam-{project_version()}-*.whl"))


# --- command lines ----------------------------------------------------------------------------------------------


def test_every_newsbeam_command_line_parses() -> None:
    commands = all_commands()
    where = {w.split(":")[0] for w, _c in commands}
    for expected in (
        "deploy/stream.yaml",
        "deploy/cronjob.yaml",
        "deploy/flink/stream.yaml",
        "deploy/flink/backfill.yaml",
    ):
        assert expected in where, f"no newsbeam command line found in {expected}"
    (subcommands,) = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    choices = set(subcommands.choices)
    for where, command in commands:
        args, beam_args = parse(command)
        assert args.command in choices, where
        assert not known_beam_flags(beam_args), f"{where}: Beam knows no {known_beam_flags(beam_args)}"
    backfills = [c for w, c in commands if w.startswith("deploy/flink/backfill.yaml")]
    assert backfills and all(parse(c)[0].warc and parse(c)[0].warc.startswith("s3://") for c in backfills)


def test_s3_readers_have_the_credentials() -> None:
    """A driver reading s3:// (WARCs or the lake) and the worker pool that reads it too share the AWS Secret."""
    for path, _spec, driver in flink_drivers():
        command = newsbeam_command(argv_of(driver)) or []
        if any("s3://" in token for token in command):
            assert secrets(driver) and secrets(driver) <= secrets(worker_pool()), path


def test_portable_runs_keep_the_job_server_deadline_high() -> None:
    portable = 0
    for where, command in all_commands():
        _args, beam_args = parse(command)
        runner = option(beam_args, "--runner")
        if runner in PORTABLE_RUNNERS and runner != "PrismRunner":
            portable += 1
            timeout = pipeline_options(beam_args).view_as(beam_options.PortableOptions).job_server_timeout
            assert timeout >= 24 * 3600, f"{where}: --job_server_timeout {timeout}"
    assert portable >= 3


def test_streams_drain_within_their_grace_period() -> None:
    for path in (DEPLOY / "stream.yaml", FLINK / "stream.yaml"):
        (doc,) = [d for d in manifests()[path] if d["kind"] in ("Deployment", "FlinkDeployment")]
        assert doc["spec"]["replicas"] == 1 and doc["spec"]["strategy"]["type"] == "Recreate", path
        spec = doc["spec"]["template"]["spec"]
        (driver,) = [c for c in spec["containers"] if is_newsbeam(c)]
        args, _beam = parse(newsbeam_command(argv_of(driver)) or [])
        assert args.command == "stream"
        assert spec["terminationGracePeriodSeconds"] > 2 * args.commit_interval + DRAIN_GRACE, path


# --- Flink wiring -----------------------------------------------------------------------------------------------


def test_worker_pool_port_is_the_environment_config_port() -> None:
    pool = worker_pool()
    port = option(argv_of(pool), "--service_port")
    assert port is not None and [p["containerPort"] for p in pool["ports"]] == [int(port)]
    drivers = flink_drivers()
    assert len(drivers) == 2
    for path, _spec, driver in drivers:
        _args, beam_args = parse(newsbeam_command(argv_of(driver)) or [])
        assert option(beam_args, "--environment_type") == "EXTERNAL", path
        assert option(beam_args, "--environment_config") == f"localhost:{port}", path


def test_drivers_reach_the_job_server_and_the_job_server_the_cluster() -> None:
    deployment = flink_deployment()
    rest = f"{deployment['metadata']['name']}-rest:{deployment['spec']['flinkConfiguration'].get('rest.port', '8081')}"
    for path, spec, driver in flink_drivers():
        server = job_server(spec)
        assert server.get("restartPolicy") == "Always", f"{path}: the job server must be a native sidecar"
        assert option(server["args"], "--flink-master") == rest, path
        job_port = int(option(server["args"], "--job-port") or 8099)
        assert server["startupProbe"]["tcpSocket"]["port"] == job_port, path
        argv = argv_of(driver)
        _args, beam_args = parse(newsbeam_command(argv) or [])
        assert option(beam_args, "--runner") == "PortableRunner", path
        assert option(beam_args, "--job_endpoint") == f"localhost:{job_port}", path
        guard = load(FLINK / "single_job.py")
        guard_args, command, name = guard.parse(argv[2:])
        assert guard_args.flink_rest == f"http://{rest}", path
        assert command[1:] == newsbeam_command(argv) and name == option(beam_args, "--job_name"), path
        assert argv[1] == "/opt/newsbeam/single_job.py"
        assert "COPY deploy/flink/single_job.py /opt/newsbeam/single_job.py" in (FLINK / "Dockerfile").read_text()


def test_artifacts_and_lake_are_shared_at_the_same_paths() -> None:
    taskmanager = flink_deployment()["spec"]["taskManager"]["podTemplate"]["spec"]
    (flink_main,) = [c for c in taskmanager["containers"] if c["name"] == "flink-main-container"]
    pool = worker_pool()
    for path, spec, driver in flink_drivers():
        server = job_server(spec)
        artifacts = option(server["args"], "--artifacts-dir") or ""
        shared = mount(server, spec, artifacts)
        assert shared is not None, f"{path}: --artifacts-dir {artifacts} is not a mounted volume"
        assert mount(flink_main, taskmanager, artifacts) == shared, f"{path}: TaskManagers do not see {artifacts}"
        args, _beam = parse(newsbeam_command(argv_of(driver)) or [])
        if "://" in args.output:  # a lake on an object store: driver and workers need the same credentials
            assert secrets(driver) and secrets(driver) <= secrets(pool), f"{path}: {args.output} without credentials"
        else:
            lake = mount(driver, spec, args.output)
            assert lake is not None and lake[0] == shared[0], f"{path}: --output {args.output} is not the volume"
            assert mount(pool, taskmanager, args.output) == lake, f"{path}: the SDK workers do not see {args.output}"
            assert lake[1] != shared[1], "lake and artifacts are separate folders of the volume"
        if args.command == "stream":
            point, feeds = mount_above(driver, spec, str(args.feeds))
            assert feeds is not None, f"{path}: --feeds {args.feeds} is not mounted in the driver"
            assert mount(pool, taskmanager, point) == feeds, f"{path}: the SDK workers do not see {args.feeds}"
    (claim,) = [d for d in manifests()[FLINK / "flinkdeployment.yaml"] if d["kind"] == "PersistentVolumeClaim"]
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]


# --- single_job.py against a stand-in for Flink's REST API ---------------------------------------------------------


class FakeFlink:
    """``GET /jobs/overview`` and ``PATCH /jobs/<id>?mode=cancel``; a cancelled job reads CANCELLING once."""

    def __init__(self, jobs: list[dict[str, str]]) -> None:
        self.jobs = jobs
        self.patched: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                assert self.path == "/jobs/overview"
                body = json.dumps({"jobs": fake.jobs}).encode()
                for job in fake.jobs:
                    if job["state"] == "CANCELLING":
                        job["state"] = "CANCELED"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_PATCH(self) -> None:
                jid, _, query = self.path.removeprefix("/jobs/").partition("?")
                assert query == "mode=cancel"
                fake.patched.append(jid)
                for job in fake.jobs:
                    if job["jid"] == jid:
                        job["state"] = "CANCELLING"
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeFlink:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


def driver(code: int, marker: Path, name: str = "newsbeam-stream") -> list[str]:
    """A stand-in driver: writes ``marker``, exits ``code``; carries a --job_name like newsbeam's."""
    script = f"import pathlib, sys; pathlib.Path({str(marker)!r}).write_text('ran'); sys.exit({code})"
    return [sys.executable, "-c", script, f"--job_name={name}"]


def job(jid: str, name: str, state: str) -> dict[str, str]:
    return {"jid": jid, "name": name, "state": state}


def test_single_job_cancels_leftovers_of_its_name_then_runs(tmp_path: Path) -> None:
    guard = load(FLINK / "single_job.py")
    jobs = [
        job("a1", "newsbeam-stream", "RUNNING"),
        job("b2", "newsbeam-stream", "CANCELED"),
        job("c3", "newsbeam-warc-backfill", "FINISHED"),
        job("d4", "someone-else", "RUNNING"),
    ]
    with FakeFlink(jobs) as flink:
        code = guard.main(["--flink-rest", flink.url, "--ok-exit-code=3", "--", *driver(3, tmp_path / "ran")])
    assert code == 0, "exit code 3 is reported as 0 with --ok-exit-code=3"
    assert flink.patched == ["a1"] and jobs[0]["state"] == "CANCELED"
    assert (tmp_path / "ran").exists()


def test_single_job_refuses_while_another_newsbeam_job_runs(tmp_path: Path) -> None:
    guard = load(FLINK / "single_job.py")
    jobs = [job("a1", "newsbeam-stream", "RUNNING"), job("b2", "newsbeam-warc-backfill", "RUNNING")]
    with FakeFlink(jobs) as flink:
        code = guard.main(["--flink-rest", flink.url, "--wait=0", "--", *driver(0, tmp_path / "ran")])
    assert code == 1 and flink.patched == [] and not (tmp_path / "ran").exists()
    assert jobs[0]["state"] == "RUNNING", "nothing is cancelled when it may not start"


def test_single_job_gives_up_without_a_flink_to_ask(tmp_path: Path) -> None:
    guard = load(FLINK / "single_job.py")
    with FakeFlink([]) as flink:
        url = flink.url  # the server is gone after the block
    code = guard.main(["--flink-rest", url, "--wait=0", "--", *driver(0, tmp_path / "ran")])
    assert code == 1 and not (tmp_path / "ran").exists()


def test_single_job_execs_the_driver_with_its_own_exit_code(tmp_path: Path) -> None:
    with FakeFlink([job("a1", "newsbeam-stream", "FINISHED")]) as flink:
        done = subprocess.run(
            [sys.executable, str(FLINK / "single_job.py"), "--flink-rest", flink.url, "--", *driver(3, tmp_path / "x")],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 3 and (tmp_path / "x").exists(), done.stderr
    assert flink.patched == []


@pytest.mark.parametrize("argv", [["--flink-rest=http://x", "--", "newsbeam", "stream"], ["--", "newsbeam"]])
def test_single_job_needs_a_rest_url_and_a_job_name(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        load(FLINK / "single_job.py").parse(argv)
    assert raised.value.code == 2


# --- Dataflow ---------------------------------------------------------------------------------------------------


def metadata() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATAFLOW / "metadata.json").read_text())
    return data


def test_metadata_parameters_are_what_the_launcher_maps() -> None:
    launcher = load(DATAFLOW / "launcher.py")
    names = [p["name"] for p in metadata()["parameters"]]
    assert len(names) == len(set(names))
    assert set(names) == {"command", *launcher.NEWSBEAM_OPTIONS}
    both = launcher.subcommand_options("stream") | launcher.subcommand_options("run")
    assert set(launcher.NEWSBEAM_OPTIONS.values()) <= both, "every mapped option is a newsbeam option"
    for parameter in metadata()["parameters"]:
        for pattern in parameter.get("regexes", []):
            re.compile(pattern)
        assert parameter.get("isOptional", False) == (parameter["name"] not in ("command", "output")), parameter


@pytest.mark.parametrize(
    ("command", "required"),
    [
        ("stream", {"output": "gs://bucket/lake", "feeds": "/template/feeds.opml"}),
        ("run", {"output": "gs://bucket/lake", "warc": "gs://bucket/crawl/CC-NEWS-20250101*.warc.gz"}),
    ],
)
def test_metadata_defaults_become_a_command_newsbeam_accepts(command: str, required: dict[str, str]) -> None:
    launcher = load(DATAFLOW / "launcher.py")
    parameters = {p["name"]: p for p in metadata()["parameters"]}
    values = {name: p["defaultValue"] for name, p in parameters.items() if "defaultValue" in p}
    values.update(required, command=command)
    for name, value in values.items():
        assert all(re.fullmatch(pattern, value) for pattern in parameters[name].get("regexes", [])), (name, value)
    template_args = [f"--{name}={value}" for name, value in values.items()]
    argv = launcher.newsbeam_argv([*template_args, "--project=p", "--region=r", "--temp_location=gs://bucket/tmp"])
    args, beam_args = parse(argv)
    assert args.command == command
    assert option(beam_args, "--runner") == "DataflowRunner"
    assert not known_beam_flags(beam_args), known_beam_flags(beam_args)
    minimal = ["--output=x", "--feeds=f" if command == "stream" else "--warc=x"]
    newsbeam_defaults = build_parser().parse_args([command, *minimal])
    for name, parameter in parameters.items():
        if name == "command" or "defaultValue" not in parameter:
            continue
        flag = launcher.NEWSBEAM_OPTIONS[name]
        dest = flag.removeprefix("--").replace("-", "_")
        if not hasattr(newsbeam_defaults, dest):
            assert not any(token.startswith(f"{flag}=") for token in argv), f"{flag} reached newsbeam {command}"
            continue
        default = getattr(newsbeam_defaults, dest)
        assert default == type(default)(parameter["defaultValue"]), f"metadata's default {name} is not newsbeam's"
        assert getattr(args, dest) == default


def test_launcher_turns_streaming_true_into_the_flag() -> None:
    launcher = load(DATAFLOW / "launcher.py")
    argv = launcher.newsbeam_argv(["--command=stream", "--output=gs://b/l", "--feeds=/f", "--streaming=true"])
    assert "--streaming" in argv and "--streaming=true" not in argv
    assert "--streaming" not in launcher.newsbeam_argv(["--command=run", "--output=x", "--warc=y", "--streaming=false"])
    with pytest.raises(SystemExit):
        launcher.newsbeam_argv(["--output=x"])


def test_dataflow_image_is_launcher_and_sdk_container() -> None:
    text = (DATAFLOW / "Dockerfile").read_text()
    assert "FLEX_TEMPLATE_PYTHON_PY_FILE=/template/launcher.py" in text
    assert "COPY deploy/dataflow/launcher.py /template/launcher.py" in text
    assert "python311-template-launcher-base" in text and "/opt/google/dataflow/python_template_launcher" in text
    assert 'ENTRYPOINT ["/opt/apache/beam/boot"]' in text
    assert re.search(r"^FROM python:3\.11-slim$", text, re.M)


def test_readme_names_files_that_exist() -> None:
    text = (DEPLOY / "README.md").read_text()
    named = set(re.findall(r"\bdeploy/[\w./-]+\w", text))
    assert {"deploy/flink/flinkdeployment.yaml", "deploy/dataflow/metadata.json"} <= named
    missing = sorted(name for name in named if not (ROOT / name).exists())
    assert not missing, f"deploy/README.md names {missing}"


def test_the_websub_callback_port_is_exposed_by_the_stream_service() -> None:
    docs = manifests()[DEPLOY / "stream.yaml"]
    (deployment,) = [d for d in docs if d["kind"] == "Deployment"]
    (service,) = [d for d in docs if d["kind"] == "Service"]
    (driver,) = [c for c in deployment["spec"]["template"]["spec"]["containers"] if is_newsbeam(c)]
    args, _beam = parse(newsbeam_command(argv_of(driver)) or [])
    port = int(args.websub_callback.rpartition(":")[2])
    assert [p["containerPort"] for p in driver["ports"] if p["name"] == "websub"] == [port]
    assert [p["targetPort"] for p in service["spec"]["ports"]] == ["websub"]
    assert service["spec"]["selector"] == deployment["spec"]["template"]["metadata"]["labels"]
