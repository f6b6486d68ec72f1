"""The project's benchmarks: speed, scaling and time to accuracy, kept outside the installed package.

They run from a checkout (``python -m benchmarks.<module>``); ``pointnet-benchmark`` is a thin entry
point over ``benchmarks.benchmark``. Each module prints a table:

- ``benchmark``: the variants' training and eval steps against the machine's matmul peak (with the
  sections of ``memory``, ``data``, ``load``, ``epoch`` and ``device``);
- ``data``: the data pipeline in detail; ``ddp``: one process against DDP over two on a CPU;
- ``gpu_check``: the variants' agreement and speed on a CUDA device (one prepared script for a lent GPU);
- ``time_to_accuracy``: validation accuracy against wall-clock minutes per recipe and budget;
- ``recipes.sh`` and ``robustness.sh``: accuracy runs of the recipes, as shell scripts.
"""
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]  # the checkout: child processes run ``-m benchmarks.*`` from here
