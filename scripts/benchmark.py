"""Benchmark the PointNet variants on this machine: ``python scripts/benchmark.py --help``.

A thin wrapper of ``pointnet.apps.benchmark`` (also installed as ``pointnet-benchmark``).
"""
from pointnet.apps.benchmark import main

if __name__ == "__main__":
    main()
