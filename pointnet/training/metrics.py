"""Classification metrics from accumulated counts (never averaged per batch)."""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class ConfusionMatrix:
    """Counts ``matrix[true, predicted]`` over every evaluated shape, plus summed loss."""

    matrix: torch.Tensor
    loss_sum: float = 0.0

    @classmethod
    def empty(cls, num_classes: int) -> ConfusionMatrix:
        return cls(torch.zeros(num_classes, num_classes, dtype=torch.int64))

    def update(self, logits: torch.Tensor, labels: torch.Tensor, loss_sum: float = 0.0) -> None:
        """Add a batch: ``logits (B, K)``, ``labels (B,)``, and the batch's summed loss."""
        k = self.matrix.shape[0]
        pairs = labels.cpu() * k + logits.argmax(dim=1).cpu()
        self.matrix += torch.bincount(pairs, minlength=k * k).view(k, k)
        self.loss_sum += loss_sum

    @property
    def total(self) -> int:
        return int(self.matrix.sum())

    @property
    def accuracy(self) -> float:
        return float(self.matrix.diagonal().sum()) / max(self.total, 1)

    @property
    def class_accuracy(self) -> torch.Tensor:
        """Recall per class, ``(K,)``; NaN for classes with no shape."""
        support = self.matrix.sum(dim=1).double()
        return self.matrix.diagonal().double() / support.where(support > 0, torch.nan)

    @property
    def mean_class_accuracy(self) -> float:
        """Mean of per-class accuracies over classes present (the paper's 'avg. class')."""
        return float(self.class_accuracy.nanmean())

    @property
    def loss(self) -> float:
        return self.loss_sum / max(self.total, 1)

    def table(self, classes: list[str]) -> str:
        """Per-class accuracy table as aligned text."""
        width = max(len(c) for c in classes + ["class"])
        lines = [f"{'class':<{width}}  {'shapes':>6}  {'correct':>7}  {'accuracy':>8}"]
        for name, row, acc in zip(classes, self.matrix, self.class_accuracy, strict=True):
            lines.append(f"{name:<{width}}  {int(row.sum()):>6}  {int(row[classes.index(name)]):>7}  {acc:>8.4f}")
        lines.append(f"{'overall':<{width}}  {self.total:>6}  {int(self.matrix.diagonal().sum()):>7}  "
                     f"{self.accuracy:>8.4f}")
        lines.append(f"{'mean class':<{width}}  {'':>6}  {'':>7}  {self.mean_class_accuracy:>8.4f}")
        return "\n".join(lines)
