"""Losses of the PointNet recipe."""
from __future__ import annotations

import torch
from torch.nn import functional as F


def orthogonality_loss(transform: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of ``||I - A A^T||_F^2`` for ``(B, k, k)`` transforms ``A``.

    The squared Frobenius norm, as in the paper's regulariser; it is zero exactly when ``A`` is
    orthogonal. (Common slips: the unsquared norm, or ``A (A^T - I)``.) The original TensorFlow code
    takes ``tf.nn.l2_loss``, half the sum over the batch: the same term times ``B / 2``.
    """
    k = transform.shape[-1]
    identity = torch.eye(k, dtype=transform.dtype, device=transform.device)
    gram = torch.bmm(transform, transform.transpose(1, 2))  # (B, k, k)
    return (identity - gram).square().sum(dim=(1, 2)).mean()


def classification_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    transform: torch.Tensor | None,
    reg_weight: float = 0.001,
    label_smoothing: float = 0.0,
    partner_labels: torch.Tensor | None = None,
    partner_weight: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy plus ``reg_weight`` times the orthogonality regulariser.

    ``label_smoothing`` ``e`` takes the cross-entropy against ``(1 - e)`` one-hot plus ``e / K``
    uniform targets (Szegedy et al. 2016; 0, the paper's, is the plain cross-entropy).
    ``partner_labels`` ``(B,)`` with ``partner_weight`` ``w`` (a mixed batch, ``point_cutmix``): the
    cross-entropy is ``(1 - w) CE(labels) + w CE(partner_labels)``.
    Returns ``(total, regulariser)``; the regulariser is 0 without a feature transform.
    """
    reg = orthogonality_loss(transform) if transform is not None else logits.new_zeros(())
    ce = F.cross_entropy(logits, labels, label_smoothing=label_smoothing)
    if partner_labels is not None:
        partner = F.cross_entropy(logits, partner_labels, label_smoothing=label_smoothing)
        ce = (1.0 - partner_weight) * ce + partner_weight * partner
    return ce + reg_weight * reg, reg
