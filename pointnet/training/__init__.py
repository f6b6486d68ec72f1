"""Training machinery over plain arguments: nothing here reads a config object or knows Hydra.

- :mod:`~pointnet.training.epoch`, :mod:`~pointnet.training.evaluation`: one epoch, one evaluation pass, voting;
- :mod:`~pointnet.training.batching`: loaders, resumable epoch samplers, batch splits over ranks;
- :mod:`~pointnet.training.optim`: optimisers, schedules, BatchNorm momentum;
- :mod:`~pointnet.training.metrics`: the confusion matrix and the accuracies read from it;
- :mod:`~pointnet.training.checkpoint`: atomic, plain-typed checkpoints;
- :mod:`~pointnet.training.distributed`: process groups under torchrun and the collectives training needs;
- :mod:`~pointnet.training.settings`, :mod:`~pointnet.training.state`, :mod:`~pointnet.training.stop`,
  :mod:`~pointnet.training.loop`: a run's settings, its saved state, signal handling and the epoch loop.

A trained model in use (``Classifier``, export) is :mod:`pointnet.inference`; how the process runs on its
machine (allocator, threads, OpenMP, SLURM) is :mod:`pointnet.runtime`.
"""
