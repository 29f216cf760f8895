"""Scrapy requests to JSON text and back, for queues other processes read (no pickle).

A request is stored as ``Request.to_dict()`` with bytes (body, headers) in
base64.  Decoding rebuilds only Scrapy's own request classes and resolves
callbacks by name on the spider, so whoever can write to the queue cannot make a
worker import or run anything else.
"""

from __future__ import annotations

import base64
import json

# per-process details Scrapy and we put in meta that must not travel with the request
LOCAL_META = frozenset({"download_slot", "download_latency", "_frontier_entry", "_frontier_local",
                        "_host_slot"})
ALLOWED_CLASSES = frozenset({"scrapy.http.request.Request", "scrapy.http.request.form.FormRequest",
                             "scrapy.http.request.json_request.JsonRequest"})


def _enc(value):
    if isinstance(value, (bytes, bytearray)):
        return {"$b": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, dict):
        if all(isinstance(k, str) and k not in ("$b", "$d") for k in value):
            return {k: _enc(v) for k, v in value.items()}
        return {"$d": [[_enc(k), _enc(v)] for k, v in value.items()]}
    if isinstance(value, (list, tuple)):
        return [_enc(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise TypeError(f"cannot store a {type(value).__name__} in a shared queue")


def _dec(value):
    if isinstance(value, dict):
        if set(value) == {"$b"}:
            return base64.b64decode(value["$b"])
        if set(value) == {"$d"}:
            return {_dec(k): _dec(v) for k, v in value["$d"]}
        return {k: _dec(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_dec(v) for v in value]
    return value


def encode(request, spider) -> str:
    d = request.to_dict(spider=spider)
    d["meta"] = {k: v for k, v in (d.get("meta") or {}).items() if k not in LOCAL_META}
    return json.dumps(_enc(d), separators=(",", ":"))


def decode(text: str, spider):
    from scrapy.utils.request import request_from_dict

    d = _dec(json.loads(text))
    cls = d.get("_class")
    if cls is not None and cls not in ALLOWED_CLASSES:
        raise ValueError(f"refusing to rebuild a request of class {cls!r}")
    for name in ("callback", "errback"):
        if d.get(name) is not None and not (isinstance(d[name], str) and d[name].isidentifier()):
            raise ValueError(f"bad {name} in a queued request")
    return request_from_dict(d, spider=spider)
