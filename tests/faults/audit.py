"""Read a whole archive back and check every object: complete, consistent, no duplicates.

Used by the fault tests after a store outage, a full disk or a killed crawl:

* every raw object's bytes hash to the content hash in its key, and it has a
  ``.meta.json`` sidecar that names it and agrees on the hash;
* every clean object is whole JSON whose text hashes to the hash in its key and
  whose ``raw_key`` exists;
* every run record is whole JSON;
* every catalog file is whole JSON lines, and the objects its rows say were
  stored exist;
* every incremental state shard (``state/<source>/urls|articles/<xx>.json``) is
  whole and in the state format, and every article version it lists exists;
* nothing else is in the store.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from dataclasses import dataclass, field

from crawler import catalog

_ID = re.compile(r"-(?P<url>[0-9a-f]{10})-(?P<sha>[0-9a-f]{12})\.[a-z]+$")


@dataclass
class Audit:
    raw: dict = field(default_factory=dict)      # raw key -> its sidecar (or None)
    clean: dict = field(default_factory=dict)    # clean key -> record
    runs: dict = field(default_factory=dict)     # run key -> record
    catalog: dict = field(default_factory=dict)  # catalog key -> rows
    state: dict = field(default_factory=dict)    # state shard key -> its entries
    problems: list = field(default_factory=list)

    def clean_per_url(self) -> Counter:
        return Counter(r["url"] for r in self.clean.values())

    def raw_per_url(self) -> Counter:
        return Counter(m["url"] for m in self.raw.values() if m)

    def duplicates(self, *, clean_per_url: bool = True) -> dict:
        """URLs archived more than once.

        The sites in the tests do not change, so one URL has one raw object.  With
        ``clean_per_url`` it also has one clean object: true when extraction is
        deterministic (``learn_template: false``); a learned template may change
        the text of a page between runs, which is a new version, not a copy.
        """
        dup = {f"raw {u}": n for u, n in self.raw_per_url().items() if n > 1}
        if clean_per_url:
            dup.update({f"clean {u}": n for u, n in self.clean_per_url().items() if n > 1})
        return dup

    def assert_sound(self, *, clean_per_url: bool = True) -> None:
        assert not self.problems, "archive is not sound:\n" + "\n".join(self.problems)
        dup = self.duplicates(clean_per_url=clean_per_url)
        assert not dup, f"archived more than once: {dup}"


def audit(store) -> Audit:
    out = Audit()
    sidecars = {}
    for info in store.list(""):
        key = info.key
        try:
            data = store.get(key)
        except Exception as exc:  # noqa: BLE001
            out.problems.append(f"{key}: listed but unreadable: {exc}")
            continue
        if len(data) != info.size:
            out.problems.append(f"{key}: listed as {info.size} bytes, read {len(data)}")
        if key.startswith("raw/") and key.endswith(".meta.json"):
            try:
                sidecars[key[: -len(".meta.json")]] = json.loads(data)
            except ValueError:
                out.problems.append(f"{key}: sidecar is not whole JSON")
        elif key.startswith("raw/"):
            m = _ID.search(key)
            sha = hashlib.sha256(data).hexdigest()
            if not m or m["sha"] != sha[:12]:
                out.problems.append(f"{key}: content does not match its hash ({len(data)} bytes)")
            out.raw[key] = None
        elif key.startswith("clean/"):
            try:
                record = json.loads(data)
            except ValueError:
                out.problems.append(f"{key}: clean object is not whole JSON")
                continue
            m = _ID.search(key)
            text_sha = hashlib.sha256(record.get("text", "").encode()).hexdigest()
            if not m or m["sha"] != text_sha[:12] or record.get("content_sha256") != text_sha:
                out.problems.append(f"{key}: text does not match its hash")
            out.clean[key] = record
        elif key.startswith("runs/"):
            try:
                out.runs[key] = json.loads(data)
            except ValueError:
                out.problems.append(f"{key}: run record is not whole JSON")
        elif key.startswith("catalog/"):
            rows, bad = catalog.decode(data)
            if bad or not data.endswith(b"\n"):
                out.problems.append(f"{key}: catalog is not whole JSON lines (bad lines {bad})")
            out.catalog[key] = rows
        elif key.startswith("state/") and key.endswith("/template.json"):
            try:
                json.loads(data)
            except ValueError:
                out.problems.append(f"{key}: template model is not whole JSON")
        elif key.startswith("state/"):
            _state_object(out, key, data)
        else:
            out.problems.append(f"{key}: unexpected object")
    for raw_key in out.raw:
        meta = sidecars.pop(raw_key, None)
        if meta is None:
            out.problems.append(f"{raw_key}: raw object without its .meta.json sidecar")
            continue
        if meta.get("raw_key") != raw_key:
            out.problems.append(f"{raw_key}: sidecar names {meta.get('raw_key')}")
        out.raw[raw_key] = meta
    for raw_key in sidecars:
        out.problems.append(f"{raw_key}.meta.json: sidecar without its raw object")
    for key, record in out.clean.items():
        if record.get("raw_key") not in out.raw:
            out.problems.append(f"{key}: its raw object {record.get('raw_key')} is missing")
    for key, entries in out.state.items():
        if "/articles/" not in key:
            continue
        for article_url, record in entries.items():
            for version in record.get("versions", []):
                if version.get("key") not in out.clean:
                    out.problems.append(f"{key}: version {version.get('v')} of {article_url} names "
                                        f"{version.get('key')}, which is not in the store")
    stored = set(out.raw) | {k + ".meta.json" for k in out.raw} | set(out.clean)
    for key, rows in out.catalog.items():
        for row in rows:
            for obj, _, _ in catalog.objects(row):
                if row.get("write") == "stored" and obj not in stored:
                    out.problems.append(f"{key}: names {obj}, which is not in the store")
    return out


_STATE_SHARD = re.compile(r"^state/[a-z0-9][a-z0-9_-]*/(?P<kind>urls|articles)/[0-9a-f]{2}\.json$")
_SAVE_MARKER = re.compile(r"^state/[a-z0-9][a-z0-9_-]*/saving/[0-9a-f]{16}\.json$")


def _state_object(out: Audit, key: str, data: bytes) -> None:
    if _SAVE_MARKER.match(key):  # a save that did not complete (the next run heals it)
        return
    m = _STATE_SHARD.match(key)
    if m is None:
        out.problems.append(f"{key}: unexpected object under state/")
        return
    try:
        doc = json.loads(data)
    except ValueError:
        out.problems.append(f"{key}: state shard is not whole JSON")
        return
    if doc.get("format") != 1 or doc.get("kind") != m["kind"] or not isinstance(doc.get("entries"), dict):
        out.problems.append(f"{key}: not a {m['kind']} state shard")
        return
    out.state[key] = doc["entries"]
