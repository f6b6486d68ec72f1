"""Compare the variants of a sweep: markdown table on stdout (and in compare.md) plus compare.png.

Usage: python scripts/compare_variants.py multirun/DATE/TIME [--out DIR]
"""
import argparse
from pathlib import Path

from pointnet.reporting.compare import load_sweep, markdown_table, plot


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("sweep_dir", type=Path)
    parser.add_argument("--out", type=Path, default=None, help="where to write compare.md/png (default: sweep dir)")
    args = parser.parse_args()
    out = args.out or args.sweep_dir
    out.mkdir(parents=True, exist_ok=True)
    runs = load_sweep(args.sweep_dir)
    table = markdown_table(runs)
    (out / "compare.md").write_text(table + "\n")
    print(table)
    print(f"\nplot: {plot(runs, out / 'compare.png')}")


if __name__ == "__main__":
    main()
