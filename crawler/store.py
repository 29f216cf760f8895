"""Object stores: one small interface, a local folder and S3, the same keys in both.

``open_store(storage_settings)`` picks the store by URL scheme (``file://`` or
``s3://``), the way Scrapy's feed exports pick a storage.  Writes are atomic:
temp file + rename on disk, a single PUT with a checksum on S3, so a reader never
sees half an object.  Failures are raised as :class:`StoreError` with a ``kind``
the caller can act on (``auth`` and ``no_bucket`` stop a run; ``unreachable``,
``throttled`` and ``io`` send pages to the spool).

Besides plain writes, both stores offer compare-and-swap for small shared
objects that several workers update (the incremental state, see
:mod:`crawler.state`): ``get_versioned(key)`` returns the bytes and an opaque
version token, ``swap(key, data, expected=token)`` writes only if the object is
still at that version (``expected=None``: only if it does not exist yet) and
returns the new token, or ``None`` when another writer came first.  On S3 this is
a PUT with ``If-Match`` / ``If-None-Match: *``; in a folder, a lock file beside
the object.
"""

from __future__ import annotations

import base64
import errno
import fcntl
import hashlib
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator, Optional, Protocol
from urllib.parse import urlsplit

from crawler.keys import is_safe_key

_UMASK = os.umask(0)
os.umask(_UMASK)
FILE_MODE = 0o666 & ~_UMASK  # what open() would have made; mkstemp makes 0600

FATAL_KINDS = frozenset({"auth", "no_bucket", "config"})
# failures a run can ride out by spooling: the store may be back by the end of the run
TRANSIENT_KINDS = frozenset({"unreachable", "throttled", "disk_full"})


class StoreError(Exception):
    """A storage failure.  ``kind``: auth, no_bucket, unreachable, throttled, disk_full, io, config."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind

    @property
    def fatal(self) -> bool:
        return self.kind in FATAL_KINDS

    @property
    def transient(self) -> bool:
        return self.kind in TRANSIENT_KINDS


class KeyNotFound(KeyError):
    pass


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    modified: datetime


class Store(Protocol):
    def put(self, key: str, data: bytes, *, content_type: str = "application/octet-stream",
            metadata: Optional[dict[str, str]] = None, if_absent: bool = False) -> bool: ...
    def get(self, key: str) -> bytes: ...
    def exists(self, key: str) -> bool: ...
    def list(self, prefix: str = "", *, start_after: str | None = None) -> Iterator[ObjectInfo]: ...
    def delete(self, key: str) -> None: ...
    def get_versioned(self, key: str) -> tuple[bytes, str]: ...
    def swap(self, key: str, data: bytes, *, expected: Optional[str],
             content_type: str = "application/json") -> Optional[str]: ...
    def check(self, *, write: bool = True) -> None: ...
    def describe(self) -> str: ...


def check_before_run(store: "Store") -> Optional[StoreError]:
    """The pre-flight check of a run that will write.

    Raises :class:`StoreError` when the run must not start (wrong credentials, no
    bucket, a folder that cannot be written); returns the error when the store is
    only unavailable for now (unreachable, throttling, disk full): the run goes
    ahead and keeps its pages in the spool.  Returns None when all is well.
    """
    try:
        store.check(write=True)
    except StoreError as exc:
        if exc.transient:
            return exc
        raise
    return None


def _require_safe(key: str) -> str:
    if not is_safe_key(key):
        raise ValueError(f"unsafe object key: {key!r}")
    return key


def _write_temp(path: Path, data: bytes) -> str:
    """Write ``data`` durably to a hidden temp file beside ``path``; returns its name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:40]}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        _discard(tmp)
        raise
    return tmp


def _discard(tmp: Optional[str]) -> None:
    if tmp is not None:
        try:
            os.unlink(tmp)
        except OSError:
            pass


def _version_token(data: bytes) -> str:
    """A file's version for compare-and-swap: the MD5 of its bytes, as S3 makes ETags."""
    return '"%s"' % hashlib.md5(data).hexdigest()  # noqa: S324 - a version tag, not security


class FileStore:
    """A local folder; keys are relative paths under ``root``."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root).resolve()

    def describe(self) -> str:
        return f"file://{self.root}"

    def _path(self, key: str) -> Path:
        path = (self.root / _require_safe(key)).resolve()
        if self.root not in path.parents:
            raise ValueError(f"key escapes the store: {key!r}")
        return path

    def check(self, *, write: bool = True) -> None:
        try:
            if write:
                self.root.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(prefix=".check-", dir=self.root)
                os.close(fd)
                os.unlink(tmp)
            elif not self.root.is_dir():
                raise StoreError("no_bucket", f"{self.root} does not exist; nothing archived there yet")
        except OSError as exc:
            raise StoreError("io", f"cannot write to {self.root}: {exc.strerror}") from None

    def put(self, key: str, data: bytes, *, content_type: str = "application/octet-stream",
            metadata: Optional[dict[str, str]] = None, if_absent: bool = False) -> bool:
        path = self._path(key)
        if if_absent and path.exists():
            return False
        tmp = None
        try:
            tmp = _write_temp(path, data)
            if if_absent:
                try:
                    os.link(tmp, path)  # atomic create-if-absent
                except FileExistsError:
                    return False
                finally:
                    os.unlink(tmp)
                    tmp = None
            else:
                os.replace(tmp, path)
                tmp = None
            return True
        except OSError as exc:
            raise self._write_error(key, exc) from None
        finally:
            _discard(tmp)

    def _write_error(self, key: str, exc: OSError) -> StoreError:
        kind = "disk_full" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else "io"
        return StoreError(kind, f"cannot write {key} under {self.root}: {exc.strerror}")

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise KeyNotFound(key) from None

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def get_versioned(self, key: str) -> tuple[bytes, str]:
        data = self.get(key)
        return data, _version_token(data)

    def swap(self, key: str, data: bytes, *, expected: Optional[str],
             content_type: str = "application/json") -> Optional[str]:
        path = self._path(key)
        lock_path = path.with_name(f".{path.name}.lock")  # hidden: list() skips dot files
        tmp = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(lock_path, "a+b") as lock:
                fcntl.flock(lock.fileno(), fcntl.LOCK_EX)  # released when closed
                try:
                    current = _version_token(path.read_bytes())
                except FileNotFoundError:
                    current = None
                if current != expected:
                    return None
                tmp = _write_temp(path, data)
                os.replace(tmp, path)
                tmp = None
            return _version_token(data)
        except OSError as exc:
            raise self._write_error(key, exc) from None
        finally:
            _discard(tmp)

    def delete(self, key: str) -> None:
        try:
            self._path(key).unlink()
        except FileNotFoundError:
            pass

    def list(self, prefix: str = "", *, start_after: str | None = None) -> Iterator[ObjectInfo]:
        """Objects whose key starts with ``prefix``, in key order (like S3)."""
        base = self.root
        directory = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        if directory:
            base = self._path(directory) if is_safe_key(directory) else None
        if base is None or not base.is_dir():
            return
        yield from self._walk(base, prefix, start_after)

    def _walk(self, directory: Path, prefix: str, start_after: str | None) -> Iterator[ObjectInfo]:
        try:
            # S3 order: byte order of the whole key, so a folder sorts as "name/"
            entries = sorted(os.scandir(directory),
                             key=lambda e: e.name + "/" if e.is_dir(follow_symlinks=False) else e.name)
        except FileNotFoundError:
            return
        rel_dir = directory.relative_to(self.root).as_posix()
        rel_dir = "" if rel_dir == "." else rel_dir + "/"
        for entry in entries:
            if entry.name.startswith("."):
                continue  # temp files of writes in progress
            key = rel_dir + entry.name
            if entry.is_dir(follow_symlinks=False):
                sub = key + "/"
                wanted = sub.startswith(prefix) or prefix.startswith(sub)
                # skip a subtree whose keys all sort before start_after
                before = start_after is not None and sub < start_after and not start_after.startswith(sub)
                if wanted and not before:
                    yield from self._walk(Path(entry.path), prefix, start_after)
            elif entry.is_file(follow_symlinks=False) and key.startswith(prefix):
                if start_after is not None and key <= start_after:
                    continue
                st = entry.stat()
                yield ObjectInfo(key, st.st_size, datetime.fromtimestamp(st.st_mtime, timezone.utc))


def _s3_error(exc: Exception, what: str, target: str) -> StoreError:
    from botocore.exceptions import (ClientError, ConnectTimeoutError, EndpointConnectionError,
                                     NoCredentialsError, PartialCredentialsError, ReadTimeoutError)
    try:
        from botocore.exceptions import ConnectionClosedError
    except ImportError:  # pragma: no cover
        ConnectionClosedError = EndpointConnectionError  # type: ignore

    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        return StoreError("auth", f"{target}: no S3 credentials found; set AWS_ACCESS_KEY_ID and "
                                  "AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) in the environment")
    if isinstance(exc, (EndpointConnectionError, ConnectTimeoutError, ConnectionClosedError)):
        return StoreError("unreachable", f"{target}: cannot reach the S3 endpoint ({type(exc).__name__}); "
                                         "check storage.endpoint_url and that the server is up")
    if isinstance(exc, ReadTimeoutError):
        return StoreError("unreachable", f"{target}: the S3 endpoint timed out during {what}")
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code = str(err.get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "403",
                    "InvalidToken", "ExpiredToken", "AuthorizationHeaderMalformed") or status == 403:
            return StoreError("auth", f"{target}: S3 refused the credentials during {what} ({code or status}); "
                                      "check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY and the bucket policy")
        if code in ("NoSuchBucket",) or (code == "404" and what == "bucket check"):
            return StoreError("no_bucket", f"{target}: the bucket does not exist; create it or fix storage.url")
        if code in ("SlowDown", "503", "ServiceUnavailable", "RequestTimeout", "InternalError",
                    "500", "TooManyRequests") or (status or 0) >= 500:
            return StoreError("throttled", f"{target}: S3 is unavailable or throttling ({code or status}) during {what}")
        return StoreError("io", f"{target}: S3 error during {what}: {code or status}")
    return StoreError("io", f"{target}: {what} failed: {type(exc).__name__}")


class S3Store:
    """An S3 bucket and prefix; the boto3 client is injected (``open_store`` builds one)."""

    def __init__(self, client, bucket: str, prefix: str = "", *, checksums: str = "when_supported",
                 endpoint: str | None = None):
        self.client, self.bucket = client, bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.checksums = checksums
        self.endpoint = endpoint

    def describe(self) -> str:
        where = f"s3://{self.bucket}/{self.prefix}"
        return f"{where} at {self.endpoint}" if self.endpoint else where

    def _key(self, key: str) -> str:
        return self.prefix + _require_safe(key)

    def check(self, *, write: bool = True) -> None:
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except Exception as exc:  # noqa: BLE001 - mapped to a StoreError
            raise _s3_error(exc, "bucket check", self.describe()) from None
        if write:
            probe = self.prefix + "_archiver/write-check"
            try:
                self.client.put_object(Bucket=self.bucket, Key=probe, Body=b"ok")
            except Exception as exc:  # noqa: BLE001
                raise _s3_error(exc, "write check", self.describe()) from None

    def create_bucket(self, region: str | None = None) -> None:
        """Create the bucket (already ours is fine); used by ``archiver serve --create-bucket``."""
        args = {"Bucket": self.bucket}
        if region and region != "us-east-1":
            args["CreateBucketConfiguration"] = {"LocationConstraint": region}
        try:
            self.client.create_bucket(**args)
        except Exception as exc:  # noqa: BLE001 - mapped to a StoreError
            if getattr(exc, "response", {}).get("Error", {}).get("Code") == "BucketAlreadyOwnedByYou":
                return
            raise _s3_error(exc, "create bucket", self.describe()) from None

    def put(self, key: str, data: bytes, *, content_type: str = "application/octet-stream",
            metadata: Optional[dict[str, str]] = None, if_absent: bool = False) -> bool:
        from botocore.exceptions import ClientError

        args = self._put_args(key, data, content_type, metadata)
        if if_absent:
            args["IfNoneMatch"] = "*"
        try:
            self.client.put_object(**args)
            return True
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if if_absent and code in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                return False
            raise _s3_error(exc, f"PUT {key}", self.describe()) from None
        except Exception as exc:  # noqa: BLE001
            raise _s3_error(exc, f"PUT {key}", self.describe()) from None

    def _put_args(self, key: str, data: bytes, content_type: str, metadata: Optional[dict] = None) -> dict:
        args = dict(Bucket=self.bucket, Key=self._key(key), Body=data, ContentType=content_type)
        if metadata:
            args["Metadata"] = {k: v.encode("ascii", "backslashreplace").decode("ascii")
                                for k, v in metadata.items()}
        if self.checksums == "when_supported":
            args["ChecksumAlgorithm"] = "SHA256"
        else:  # older S3-compatible servers: the universally supported MD5 check
            args["ContentMD5"] = base64.b64encode(hashlib.md5(data).digest()).decode()  # noqa: S324
        return args

    def swap(self, key: str, data: bytes, *, expected: Optional[str],
             content_type: str = "application/json") -> Optional[str]:
        from botocore.exceptions import ClientError

        args = self._put_args(key, data, content_type)
        if expected is None:
            args["IfNoneMatch"] = "*"
        else:
            args["IfMatch"] = expected
        try:
            return self.client.put_object(**args)["ETag"]
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            # 412: another writer came first; 409: a concurrent conditional write (AWS);
            # 404: If-Match on an object that was deleted meanwhile (AWS, moto)
            if code in ("PreconditionFailed", "412", "ConditionalRequestConflict", "409",
                        "NoSuchKey", "404"):
                return None
            raise _s3_error(exc, f"PUT {key}", self.describe()) from None
        except Exception as exc:  # noqa: BLE001
            raise _s3_error(exc, f"PUT {key}", self.describe()) from None

    def get_versioned(self, key: str) -> tuple[bytes, str]:
        return self._get(key, versioned=True)

    def get(self, key: str) -> bytes:
        return self._get(key, versioned=False)

    def _get(self, key: str, *, versioned: bool):
        from botocore.exceptions import ClientError

        name = self._key(key)  # an unsafe key is a ValueError, not a store failure
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=name)
            data = answer["Body"].read()
            return (data, answer["ETag"]) if versioned else data
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise KeyNotFound(key) from None
            raise _s3_error(exc, f"GET {key}", self.describe()) from None
        except Exception as exc:  # noqa: BLE001
            raise _s3_error(exc, f"GET {key}", self.describe()) from None

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        name = self._key(key)
        try:
            self.client.head_object(Bucket=self.bucket, Key=name)
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                return False
            raise _s3_error(exc, f"HEAD {key}", self.describe()) from None
        except Exception as exc:  # noqa: BLE001
            raise _s3_error(exc, f"HEAD {key}", self.describe()) from None

    def delete(self, key: str) -> None:
        name = self._key(key)
        try:
            self.client.delete_object(Bucket=self.bucket, Key=name)
        except Exception as exc:  # noqa: BLE001
            raise _s3_error(exc, f"DELETE {key}", self.describe()) from None

    def list(self, prefix: str = "", *, start_after: str | None = None) -> Iterator[ObjectInfo]:
        args = dict(Bucket=self.bucket, Prefix=self.prefix + prefix)
        if start_after:
            args["StartAfter"] = self.prefix + start_after
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(**args):
                for obj in page.get("Contents", []):
                    key = obj["Key"][len(self.prefix):]
                    if key.startswith("_archiver/"):
                        continue
                    yield ObjectInfo(key, obj["Size"], obj["LastModified"])
        except Exception as exc:  # noqa: BLE001
            raise _s3_error(exc, f"LIST {prefix or '/'}", self.describe()) from None


def s3_client(storage):
    """Build a boto3 S3 client from :class:`crawler.config.StorageSettings`.

    Credentials come only from the standard AWS chain (environment, profile, instance role).
    """
    import boto3
    from botocore.config import Config

    session = boto3.session.Session(profile_name=storage.profile) if storage.profile else boto3.session.Session()
    config = Config(
        s3={"addressing_style": storage.addressing_style},
        retries={"mode": "standard", "max_attempts": storage.retries + 1},
        connect_timeout=storage.connect_timeout,
        read_timeout=storage.read_timeout,
        request_checksum_calculation=storage.request_checksum_calculation,
        response_checksum_validation=storage.response_checksum_validation,
        user_agent_extra="archiver",
        # the state is read and written with up to 32 requests at once (crawler.state); the
        # default pool of 10 connections would make the rest wait
        max_pool_connections=32,
    )
    return session.client("s3", endpoint_url=storage.endpoint_url,
                          region_name=storage.region or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
                          config=config)


def open_store(storage, *, client=None) -> Store:
    """The store named by ``storage.url`` (``file://PATH`` or ``s3://BUCKET/PREFIX``)."""
    parts = urlsplit(storage.url)
    if parts.scheme == "file":
        return FileStore(os.path.expanduser(parts.netloc + parts.path))
    if parts.scheme == "s3":
        if client is None:
            try:
                client = s3_client(storage)
            except Exception as exc:  # noqa: BLE001 - profile not found, bad region...
                raise StoreError("config", f"cannot set up the S3 client: {exc}") from None
        return S3Store(client, parts.netloc, parts.path, checksums=storage.request_checksum_calculation,
                       endpoint=storage.endpoint_url)
    raise StoreError("config", f"unsupported storage URL scheme: {parts.scheme!r}")
