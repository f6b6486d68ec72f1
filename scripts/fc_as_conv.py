"""Print the fully-connected-as-convolution checks of ``pointnet.explain.fc_as_conv`` as a plain-text table.

Usage: ``.venv/bin/python scripts/fc_as_conv.py [--dtype float32] [--batch-size 4] [--seed 1]``
"""
from __future__ import annotations

import argparse

import torch

from pointnet.explain.fc_as_conv import format_table, run_all_checks

DTYPES = {"float64": torch.float64, "float32": torch.float32}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="float64")
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rows = run_all_checks(args.batch_size, DTYPES[args.dtype], args.seed)
    print(f"{args.dtype}, batch {args.batch_size}, seed {args.seed}; multiply-adds per sample")
    print(format_table(rows))
    print("5b and 5d are meant to differ: a general FC over all pixels is not the shared 1x1 form.")


if __name__ == "__main__":
    main()
