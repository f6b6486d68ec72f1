"""``pointnet-make-synthetic``: write the procedural ModelNet-style corpus (default ``data/synthetic``)."""
from __future__ import annotations

import argparse
import json
import time

from pointnet.data.errors import DatasetError
from pointnet.data.synthetic.corpus import MANIFEST, SYNTHETIC_CLASSES, generate_synthetic


def main(argv: list[str] | None = None) -> None:
    """``pointnet-make-synthetic``: write the procedural corpus (default ``data/synthetic``)."""
    parser = argparse.ArgumentParser(prog="pointnet-make-synthetic", description=main.__doc__)
    parser.add_argument("--root", default="data/synthetic", help="target folder (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-per-class", type=int, default=40)
    parser.add_argument("--test-per-class", type=int, default=15)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        root = generate_synthetic(args.root, seed=args.seed, train_per_class=args.train_per_class,
                                  test_per_class=args.test_per_class, workers=args.workers,
                                  progress=not args.quiet)
    except DatasetError as error:
        parser.exit(2, f"error: {error}\n")
    count = len(json.loads((root / MANIFEST).read_text(encoding="utf-8"))["files"])
    print(f"{root}: {count} meshes in {len(SYNTHETIC_CLASSES)} classes "
          f"({args.train_per_class} train + {args.test_per_class} test per class), "
          f"{time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
