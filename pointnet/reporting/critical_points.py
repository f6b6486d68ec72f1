"""Critical points (the paper's Figure 7): the points whose features survive the max-pool.

The global feature is ``max_n f(x_n)`` per channel; a point is critical when it attains the maximum
of at least one of the 1024 channels. The T-Nets max-pool too, so the critical set here is the union
over all three max-pools (input T-Net, feature T-Net, trunk): the network's output on the critical
points alone equals its output on the whole cloud, exactly.
"""
from __future__ import annotations

import torch
from matplotlib.figure import Figure

from pointnet.nn.model import PointNet, TNet


@torch.no_grad()
def critical_point_indices(model: PointNet, points: torch.Tensor) -> torch.Tensor:
    """Sorted indices into ``points (N, 3)`` of the points that attain some pooled channel's maximum."""
    model.eval()
    winners: list[torch.Tensor] = []

    def record(tnet: TNet, inputs: tuple[torch.Tensor]) -> None:
        winners.append(tnet.mlp(inputs[0])[0].argmax(dim=0))  # (1, N, C) -> (C,) winning point per channel

    tnets = [t for t in (model.input_tnet, model.feature_tnet) if t is not None]
    hooks = [t.register_forward_pre_hook(record) for t in tnets]
    try:
        features, _ = model.point_features(points[None])  # (1, N, 1024)
    finally:
        for hook in hooks:
            hook.remove()
    winners.append(features[0].argmax(dim=0))
    return torch.cat(winners).unique()  # (M,)


def critical_points_figure(points: torch.Tensor, critical: torch.Tensor, title: str) -> Figure:
    """The cloud in grey with its critical points in red, seen from the front and from above."""
    pts = points.cpu().numpy()
    crit = pts[critical.cpu().numpy()]
    fig = Figure(figsize=(8, 4), dpi=100)
    for i, (elev, azim) in enumerate([(20, -60), (90, -90)]):
        ax = fig.add_subplot(1, 2, i + 1, projection="3d")
        ax.scatter(pts[:, 0], pts[:, 1], pts[:, 2], s=1, c="0.75")
        ax.scatter(crit[:, 0], crit[:, 1], crit[:, 2], s=4, c="tab:red")
        ax.view_init(elev=elev, azim=azim)
        ax.set_axis_off()
    fig.suptitle(f"{title}: {len(crit)} of {len(pts)} points are critical")
    fig.tight_layout()
    return fig
