"""``pointnet-download [ModelNet10|ModelNet40]``: fetch, verify and unpack an official archive into ``data/``."""
from __future__ import annotations

import argparse
import sys

from pointnet.data.datasets.download import ARCHIVES, DownloadError, canonical_name, download


def _name_argument(name: str) -> str:
    try:
        return canonical_name(name)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def main(argv: list[str] | None = None) -> None:
    """``pointnet-download [ModelNet10|ModelNet40]``: fetch, verify and unpack into ``data/``."""
    parser = argparse.ArgumentParser(prog="pointnet-download", description=main.__doc__)
    parser.add_argument("name", nargs="?", default="ModelNet10", type=_name_argument,
                        help=f"one of {', '.join(ARCHIVES)} (any case; default: %(default)s)")
    parser.add_argument("--dest", default="data", help="folder to unpack into (default: %(default)s)")
    parser.add_argument("--url", help="archive URL (default: the official one)")
    parser.add_argument("--sha256", help="expected SHA-256 of the archive")
    parser.add_argument("--force", action="store_true", help="replace an existing data set")
    parser.add_argument("--keep-archive", action="store_true", help="keep (and reuse) the .zip")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    try:
        target = download(args.name, args.dest, url=args.url, sha256=args.sha256, force=args.force,
                          keep_archive=args.keep_archive, progress=not args.quiet)
    except DownloadError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(1) from None
    print(f"{args.name} is in {target}")


if __name__ == "__main__":
    main()
