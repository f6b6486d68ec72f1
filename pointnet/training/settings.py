"""A training run's settings as plain dataclasses, owned by the code that reads them.

The apps' config schema (``pointnet.apps.schema``) is built from these same classes, so a YAML key
and the field the loop reads are one definition; the apps hand the loop ``OmegaConf.to_object`` of
their config, real instances of these classes, never a config object.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from pointnet.roles import LENGTH_ROLE, REPORT_ROLE, SPEED_ROLE, VARIANT_ROLE


@dataclass
class BatchNormMomentum:
    """PyTorch BN momentum ``max(minimum, start * decay ** (epoch // step_size))``: the original's 0.5 -> 0.01."""

    start: float = 0.5
    decay: float = 0.5
    step_size: int = 20
    minimum: float = 0.01


@dataclass
class DistributedSettings:
    """DistributedDataParallel under torchrun (ignored by a plain single-process run).

    ``batch_scope``: ``global`` splits ``train.batch_size`` over the ranks (same optimisation as one
    process), ``per_rank`` gives every rank ``train.batch_size`` (global batch grows with the ranks).
    ``lr_scaling``: ``linear`` multiplies ``train.lr`` by global batch / ``train.batch_size``; ``none`` keeps it.
    """

    backend: str = field(default="auto", metadata=SPEED_ROLE)
    sync_batchnorm: bool = False
    timeout_s: float = field(default=300.0, metadata=SPEED_ROLE)
    prepare_timeout_s: float = field(default=3600.0, metadata=SPEED_ROLE)
    batch_scope: str = "global"
    lr_scaling: str = "none"


@dataclass
class OptimizerSettings:
    name: str = "adam"
    weight_decay: float = 0.0
    momentum: float = 0.9


@dataclass
class SchedulerSettings:
    """``warmup_epochs``: the lr rises linearly to ``train.lr`` over these first epochs, then ``name`` runs."""

    name: str = "step"
    step_size: int = 20
    gamma: float = 0.5
    min_lr: float = 1e-5
    warmup_epochs: int = 0


COMPILE_MODES = ("default", "reduce-overhead", "max-autotune")  # torch.compile's modes; reduce-overhead: CUDA graphs


@dataclass
class TrainSettings:
    epochs: int = field(default=25, metadata=LENGTH_ROLE)  # set from budget_minutes when that is given
    # the whole command's wall-clock budget on the reference machine (pointnet.training.budget): sets epochs;
    # null = train.epochs
    budget_minutes: float | None = None
    early_points: int = 0  # points per training cloud in the first early_fraction of the epochs; 0 = off
    early_fraction: float = 0.5
    val_every: int = 1  # validate every this many epochs, and after the last
    batch_size: int = 32
    lr: float = 1e-3
    reg_weight: float = 0.001
    label_smoothing: float = 0.0  # cross-entropy against (1 - e) one-hot + e uniform; 0 = the paper's loss
    grad_clip: float = 0.0  # clip the gradients' global L2 norm to this before each step; 0 = off
    cutmix_prob: float = 0.0  # share of batches mixed by PointCutMix-R; 0 = off (the paper's)
    cutmix_beta: float = 1.0  # the mixing ratio's Beta(beta, beta)
    ema_decay: float = 0.0  # > 0: validate, test and save a moving average of the weights (per step); 0 = off
    bn_momentum: BatchNormMomentum = field(default_factory=BatchNormMomentum)
    num_workers: int = field(default=0, metadata=SPEED_ROLE)
    device_data: bool | None = None
    compile: bool = field(default=False, metadata=SPEED_ROLE)
    compile_mode: str = field(default="default", metadata=SPEED_ROLE)
    precision: str = "float32"
    log_every: int = field(default=10, metadata=REPORT_ROLE)
    num_clouds: int = field(default=4, metadata=REPORT_ROLE)
    figures_every: int = field(default=5, metadata=REPORT_ROLE)
    distributed: DistributedSettings = field(default_factory=DistributedSettings, metadata=VARIANT_ROLE)


@dataclass
class Recipe:
    """Everything the loop needs besides data and model: how to train, optimise, schedule and evaluate."""

    train: TrainSettings
    optimizer: OptimizerSettings
    scheduler: SchedulerSettings
    seed: int = 0
    eval_batch_size: int = 32
