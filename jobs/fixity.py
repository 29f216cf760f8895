"""Fixity: recompute the checksums of stored objects and compare them with the catalog.

Pure planning (which key should hold which bytes, by the newest catalog row
that names it) and a checker that reads objects in parallel through the store
interface.  Used by ``archiver verify``.
"""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Iterable, Optional

from crawler import catalog
from crawler.store import KeyNotFound, Store, StoreError

WORKERS = 8


@dataclass(frozen=True)
class Expected:
    key: str
    sha256: Optional[str]
    size: Optional[int]
    catalog_key: str
    write: Optional[str]


@dataclass
class Problem:
    key: str
    kind: str        # missing | corrupted | unreadable | bad_catalog_line
    detail: str
    catalog_key: str

    def to_dict(self) -> dict:
        return {"key": self.key, "kind": self.kind, "detail": self.detail, "catalog": self.catalog_key}


@dataclass
class Report:
    catalog_files: int = 0
    checked: int = 0
    ok: int = 0
    bytes: int = 0
    problems: list[Problem] = field(default_factory=list)

    def count(self, kind: str) -> int:
        return sum(1 for p in self.problems if p.kind == kind)

    def to_dict(self) -> dict:
        return {"catalog_files": self.catalog_files, "checked": self.checked, "ok": self.ok, "bytes": self.bytes,
                "missing": self.count("missing"), "corrupted": self.count("corrupted"),
                "unreadable": self.count("unreadable"), "bad_catalog_lines": self.count("bad_catalog_line"),
                "problems": [p.to_dict() for p in self.problems]}


def plan(files_rows: Iterable[tuple[str, list[dict]]]) -> dict[str, Expected]:
    """Key -> what it should hold.  Files come oldest first; a key written again is described by its newest row."""
    expected: dict[str, Expected] = {}
    for catalog_key, rows in files_rows:
        for row in rows:
            for key, sha, size in catalog.objects(row):
                expected[key] = Expected(key, sha, size, catalog_key, row.get("write"))
    return expected


def check_one(data: bytes, exp: Expected) -> Optional[str]:
    """Why ``data`` is not what ``exp`` describes, or None when it is."""
    if exp.size is not None and len(data) != exp.size:
        return f"size {len(data)} bytes, catalog says {exp.size}"
    if exp.sha256 and hashlib.sha256(data).hexdigest() != exp.sha256:
        return f"sha256 {hashlib.sha256(data).hexdigest()[:16]}..., catalog says {exp.sha256[:16]}..."
    return None


def verify(store: Store, expected: dict[str, Expected], report: Report) -> Report:
    def one(exp: Expected):
        try:
            data = store.get(exp.key)
        except KeyNotFound:
            note = " (its write was spooled and has not reached the store)" if exp.write == "spooled" else ""
            note = " (its write was lost when the run stored it)" if exp.write == "lost" else note
            return Problem(exp.key, "missing", "not in the store" + note, exp.catalog_key), 0
        except StoreError as exc:
            return Problem(exp.key, "unreadable", str(exc), exp.catalog_key), 0
        why = check_one(data, exp)
        return (Problem(exp.key, "corrupted", why, exp.catalog_key) if why else None), len(data)

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        for problem, size in pool.map(one, sorted(expected.values(), key=lambda e: e.key)):
            report.checked += 1
            report.bytes += size
            if problem is None:
                report.ok += 1
            else:
                report.problems.append(problem)
    return report
