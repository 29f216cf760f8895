"""``archiver demo``: serve the bundled demo site on 127.0.0.1 and archive it into a folder."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from crawler.config import load_config
from crawler.store import FileStore
from jobs.commands.common import bundled_config
from jobs.commands.crawl import summary_line
from jobs.demo import DemoSite
from jobs.runner import run_source


# the same port every time, so the site's URLs are the same and a second demo into the same
# folder re-crawls what it knows (304s, nothing stored twice) instead of pages of a gone port
DEMO_PORT = 8700


def open_site(port: int) -> DemoSite:
    try:
        return DemoSite(port=port)
    except OSError:
        return DemoSite(port=0)


def add_parser(sub) -> None:
    p = sub.add_parser("demo", help="archive the bundled demo site (no network, no account needed)")
    p.add_argument("--out", default="./archive", help="folder to archive into (default ./archive)")
    p.add_argument("--serve", action="store_true", help="keep serving the demo site after the crawl")
    p.add_argument("--port", type=int, default=DEMO_PORT,
                   help=f"port of the demo site on 127.0.0.1 (default {DEMO_PORT}; another free one if taken)")
    p.set_defaults(func=run)


def run(args) -> int:
    out = Path(args.out).resolve()
    config_path = bundled_config()
    with open_site(args.port) as site:
        env = {"ARCHIVER_DEMO_URL": site.url, "ARCHIVER_STORE": f"file://{out}",
               "ARCHIVER_SPOOL": str(out / ".spool")}
        os.environ.update(env)  # the crawl process reads the same config with the same values
        loaded = load_config(config_path)
        print(f"demo site at {site.url}, archiving into {out}")
        results = [run_source(config_path, source, loaded.settings.storage, trigger="manual",
                              log_format=args.log_format, log_level=args.log_level)
                   for source in loaded.settings.sources]
        for result in results:
            print(summary_line(result))
        print_archive(FileStore(out), [r.run_id for r in results])
        if args.serve:
            print(f"serving {site.url} until Ctrl-C")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
    return 1 if any(r.outcome in ("failed", "crashed") for r in results) else 0


def print_archive(store: FileStore, run_ids: list[str]) -> None:
    print("\nclean articles:")
    made = 0
    for info in store.list("clean/"):
        record = json.loads(store.get(info.key))
        if record.get("run_id") not in run_ids:
            continue
        made += 1
        title = record.get("title") or "(no title)"
        words = len((record.get("text") or "").split())
        print(f"  {title[:70]:<70} {words:>5} words  {store.root / info.key}")
    if not made:
        print(f"  nothing new: the site has not changed since the last run; earlier versions are under "
              f"{store.root / 'clean'} (`archiver ls --config ...` lists them)")
    raws = [i for i in store.list("raw/") if not i.key.endswith(".meta.json")]
    print(f"\nraw pages: {len(raws)} under {store.root / 'raw'}")
    print(f"run records: {store.root / 'runs'}")
