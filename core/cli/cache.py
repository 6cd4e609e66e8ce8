"""``reasonrank cache stats|clear DIR``: the on-disk reply cache (see ``--cache DIR``)."""
from __future__ import annotations

import argparse
import json
from typing import Any


def register(sub: Any) -> None:
    parser = sub.add_parser("cache", help="inspect or empty an on-disk reply cache",
                            description="Entries and size of an on-disk reply cache (--cache DIR), or empty it.")
    parser.add_argument("action", choices=("stats", "clear"), help="stats: entries and bytes; clear: remove all")
    parser.add_argument("folder", metavar="DIR", help="the cache folder given to --cache")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from reasonrank.cache.stores import DB_NAME, DiskStore
    from reasonrank.errors import InvalidInputError

    if not (Path(args.folder) / DB_NAME).exists():
        raise InvalidInputError(f"no reply cache in {args.folder!r} (expected {DB_NAME} there)")
    store = DiskStore(args.folder)
    if args.action == "clear":
        before = store.stats()["entries"]
        store.clear()
        print(f"cleared {before} entries from {store.path}")
        return 0
    print(json.dumps(store.stats(), indent=2))
    return 0
