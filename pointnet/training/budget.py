"""A wall-clock budget turned into an epoch count, from the data set's size, never from the clock.

``train.budget_minutes`` is the time of the whole command (start-up, cache build, training,
validation and the final tests) on the reference machine: one whose bare training step (batch 32 x
1024 points, conv1d, fast path, Adam) runs at :data:`REFERENCE_SAMPLES_PER_S`. The plan costs each
part in seconds of that machine and takes the most epochs that fit, so the same command trains the
same epochs on any machine; a machine whose step is twice as fast finishes in about half the time.

The costs below were measured on the reference machine (2-core AMD EPYC, torch 2.13 CPU, 2026-12-06;
``docs/speedrun.md``): a training sample at ``N`` points costs ``a + (1 - a) N / 1024`` of one at
1024 (the T-Nets' fully connected layers, the optimiser step and Python overhead do not shrink with
``N``), an evaluated shape :data:`EVAL_SAMPLE_COST` of a training one, and the real loop runs at
:data:`LOOP_EFFICIENCY` of the bare step. :data:`SAFETY` of the budget is planned, the rest is margin
for machines of the same kind that run a little slower.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

REFERENCE_SAMPLES_PER_S = 80.0  # the bare training step, batch 32 x 1024, on the reference machine
FIXED_SAMPLE_COST = 0.19  # a: the share of a 1,024-point training sample's cost that does not scale with N
EVAL_SAMPLE_COST = 0.47  # an evaluated shape (no backward, folded BatchNorm) against a training sample
LOOP_EFFICIENCY = 0.85  # the real loop's samples/s against the bare step's (augmentation, EMA, logging)
START_SECONDS = 20.0  # interpreter, torch and Hydra start-up, model and optimiser, report files
PREPARE_SECONDS_PER_SHAPE = 0.002  # reading and caching a point file (meshes cost more: prepare them first)
SAFETY = 0.9


@dataclass(frozen=True)
class BudgetPlan:
    """What a budget buys: ``epochs``, of which the first ``early_epochs`` train on fewer points, and
    the estimated seconds of each part on the reference machine."""

    epochs: int
    early_epochs: int
    seconds: dict[str, float]

    def describe(self, minutes: float) -> str:
        parts = ", ".join(f"{name} {value:.0f} s" for name, value in self.seconds.items())
        return (f"train.budget_minutes={minutes:g}: {self.epochs} epochs ({self.early_epochs} on fewer points); "
                f"estimated on the reference machine ({REFERENCE_SAMPLES_PER_S:g} samples/s): {parts}")


def sample_seconds(points: int) -> float:
    """Reference seconds of one training sample at ``points`` points in the real loop."""
    scale = FIXED_SAMPLE_COST + (1 - FIXED_SAMPLE_COST) * points / 1024
    return scale / (REFERENCE_SAMPLES_PER_S * LOOP_EFFICIENCY)


def early_epoch_count(epochs: int, early_fraction: float, early_points: int) -> int:
    """Epochs at ``early_points`` (the first ones): ``early_fraction`` of ``epochs``, none when off."""
    return int(math.floor(early_fraction * epochs)) if early_points > 0 else 0


def plan_budget(minutes: float, *, train_shapes: int, val_shapes: int, test_shapes: int, batch_size: int,
                num_points: int, early_points: int = 0, early_fraction: float = 0.0, val_every: int = 1) -> BudgetPlan:
    """The most epochs whose estimated cost fits ``SAFETY * minutes``; raises ``ValueError`` if not one does.

    ``train_shapes`` are those trained on (after the validation hold-out), drawn in full batches of
    ``batch_size``; validation runs every ``val_every`` epochs and after the last, and the test set is
    evaluated for the last model, for its PR curves and projector, and for the best one when there is
    validation.
    """
    eval_shape = EVAL_SAMPLE_COST * sample_seconds(num_points)
    trained = (train_shapes // batch_size) * batch_size
    fixed = {"start": START_SECONDS, "prepare": PREPARE_SECONDS_PER_SHAPE * (train_shapes + val_shapes + test_shapes),
             "test": test_shapes * eval_shape * (3 if val_shapes else 2)}
    available = SAFETY * 60.0 * minutes - sum(fixed.values())

    def cost(epochs: int) -> dict[str, float]:
        early = early_epoch_count(epochs, early_fraction, early_points)
        validations = len({*range(val_every - 1, epochs, val_every), epochs - 1}) if val_shapes else 0
        per_sample = early * sample_seconds(early_points) + (epochs - early) * sample_seconds(num_points)
        return {"train": trained * per_sample, "validation": validations * val_shapes * eval_shape}

    epochs = 0
    while sum(cost(epochs + 1).values()) <= available:
        epochs += 1
    if epochs == 0:
        needed = (sum(fixed.values()) + sum(cost(1).values())) / SAFETY / 60.0
        raise ValueError(f"{minutes:g} minutes do not fit one epoch of {train_shapes} shapes "
                         f"(about {needed:.1f} minutes on the reference machine)")
    return BudgetPlan(epochs, early_epoch_count(epochs, early_fraction, early_points),
                      {**fixed, **cost(epochs)})
