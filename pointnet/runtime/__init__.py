"""How a process runs on its machine: the allocator, OpenMP's waiting, threads under load, SLURM's environment.

- :mod:`~pointnet.runtime.openmp`: the bounded OpenMP spin, set before torch loads (imports no torch);
- :mod:`~pointnet.runtime.malloc`: glibc's allocator kept from returning large blocks between steps;
- :mod:`~pointnet.runtime.threads`: torch's thread count chosen from the machine's load (``ThreadGovernor``);
- :mod:`~pointnet.runtime.slurm`: a SLURM task's rank, world size and master from its environment;
- :mod:`~pointnet.runtime.process`: when a process started;
- :mod:`~pointnet.runtime.settings`: the ``runtime`` config group (device, threads).

Importing this package loads no torch, so the console scripts can set OpenMP's environment first.
"""
