"""The `conducto-data-pipeline` / `conducto-data-user` commands of a shell node, as Conducto's:
`conducto-data-pipeline puts --name N < file`, `gets --name N > file`, `put`/`get --name N
--file F`, `exists`, `size`, `list --prefix P`, `delete`, `url` and the cache commands.

bin/conducto-data-* run this file as a lone script with any python3 (the standard library
only: client.py beside it is imported as a plain module then); in an image without Python
they fall back to client.sh.
"""

from __future__ import annotations

import json
import sys

try:
    from .client import DataError, DataNotFound, _check, _chunks, _Data, pipeline, user
except ImportError:  # run as a lone script: client.py is beside it, on sys.path[0]
    from client import (  # type: ignore[import-not-found,no-redef]
        DataError,
        DataNotFound,
        _check,
        _chunks,
        _Data,
        pipeline,
        user,
    )

__all__ = ["main"]

_USAGE = """usage: conducto-data-{scope} COMMAND [--name NAME] [--file FILE] [...]
  puts --name N            store stdin as N        gets --name N [--byte-range B,E]  to stdout
  put --name N --file F    store the file F as N   get --name N --file F
  exists --name N          true / false            size --name N
  list [--prefix P]        one name a line         delete --name N [--recursive]
  url --name N
  cache-exists|clear-cache|save-cache|restore-cache --name N --checksum C [--save-dir D]
      [--restore-dir D]"""


def main(argv: list[str]) -> int:
    """`client.py SCOPE COMMAND --option value...`, as Conducto's `conducto-data-*`."""
    if len(argv) < 2 or argv[1] in ("-h", "--help"):  # asked for: to stdout, and no error
        asked = len(argv) >= 2
        usage = _USAGE.format(scope=argv[0] if argv else "pipeline")
        print(usage, file=sys.stdout if asked else sys.stderr)
        return 0 if asked else 2
    kinds: dict[str, type[_Data]] = {"pipeline": pipeline, "user": user}
    data, command, opts = kinds[argv[0]], argv[1], _options(argv[2:])
    name = opts.get("name", "")
    try:
        if command == "puts":
            http = data._http()
            if http is None:
                data._local().write(name, _chunks(sys.stdin.buffer))
            else:
                _check(name)
                http.call("PUT", "object", name, _chunks(sys.stdin.buffer))
        elif command == "gets":
            start, _, end = opts.get("byte_range", "").partition(",")
            for chunk in data._read(name, int(start or 0), int(end) if end else None):
                sys.stdout.buffer.write(chunk)
            sys.stdout.buffer.flush()
        elif command in ("put", "get"):
            getattr(data, command)(name, opts["file"])
        elif command in ("exists", "size", "url", "cache-exists"):
            args = [name, opts["checksum"]] if command == "cache-exists" else [name]
            print(json.dumps(getattr(data, command.replace("-", "_"))(*args)))
        elif command == "list":
            print("\n".join(data.list(opts.get("prefix", name))))
        elif command == "delete":
            data.delete(name, "recursive" in opts)
        elif command == "clear-cache":
            data.clear_cache(name, opts.get("checksum"))
        elif command in ("save-cache", "restore-cache"):
            folder = opts.get("save_dir") or opts.get("restore_dir") or opts["dir"]
            getattr(data, command.replace("-", "_"))(name, opts["checksum"], folder)
        else:
            print(f"unknown command {command!r}\n" + _USAGE.format(scope=argv[0]), file=sys.stderr)
            return 2
    except DataNotFound as e:
        print(f"conducto-data-{argv[0]}: {e}", file=sys.stderr)
        return 1
    except (DataError, KeyError, ValueError, OSError) as e:
        print(f"conducto-data-{argv[0]}: {e}", file=sys.stderr)
        return 2 if isinstance(e, KeyError) else 1
    return 0


def _options(args: list[str]) -> dict[str, str]:
    """`--name N --file=F --recursive` -> {"name": "N", "file": "F", "recursive": ""}."""
    opts: dict[str, str] = {}
    i = 0
    while i < len(args):
        key, eq, value = args[i].removeprefix("--").partition("=")
        key = key.replace("-", "_")
        if not eq and i + 1 < len(args) and not args[i + 1].startswith("--"):
            value, i = args[i + 1], i + 1
        opts[key] = value
        i += 1
    return opts


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
