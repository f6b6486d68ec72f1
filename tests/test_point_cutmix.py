"""PointCutMix-R (``train.cutmix_prob``): what it mixes, the loss it weighs, and that the epoch uses it."""
import pytest
import torch
from torch.nn import functional as F

from pointnet import PointNet
from pointnet.data.pipeline.point_cutmix import point_cutmix
from pointnet.nn.losses import classification_loss
from pointnet.training.epoch import Trainer
from pointnet.training.settings import TrainSettings


def identified_batch(batch: int = 5, count: int = 64) -> torch.Tensor:
    """``(B, N, 6)`` clouds whose every row is unique: xyz random, 'normals' = (cloud, point, cloud + point)."""
    xyz = torch.randn(batch, count, 3, dtype=torch.float64)
    cloud = torch.arange(batch, dtype=torch.float64).view(-1, 1).expand(batch, count)
    point = torch.arange(count, dtype=torch.float64).view(1, -1).expand(batch, count)
    return torch.cat([xyz, torch.stack([cloud, point, cloud + point], dim=2)], dim=2)


def test_off_or_unlucky_batches_are_left_alone():
    points, labels = identified_batch(), torch.arange(5)
    assert point_cutmix(points, labels, prob=0.0) is None
    torch.manual_seed(0)
    assert sum(point_cutmix(points, labels, prob=0.3) is None for _ in range(400)) == pytest.approx(280, abs=40)


def test_each_cloud_keeps_its_own_points_and_takes_its_partners():
    torch.manual_seed(1)
    points, labels = identified_batch(), torch.tensor([10, 11, 12, 13, 14])
    count, weights = points.shape[1], []
    for _ in range(50):
        mixed = point_cutmix(points, labels, prob=1.0, beta=1.0)
        if mixed is None:
            continue
        weights.append(mixed.partner_weight)
        assert mixed.points.shape == points.shape
        assert sorted(mixed.partner_labels.tolist()) == labels.tolist()  # partners: a permutation
        for a, rows in enumerate(mixed.points):
            partner = int(mixed.partner_labels[a]) - 10
            for row in rows:  # every row is a real point of its cloud, normals and all
                torch.testing.assert_close(row, points[int(row[3]), int(row[4])], rtol=0, atol=0)
            if partner != a:
                sources = rows[:, 3].long().tolist()
                assert sources.count(partner) == round(mixed.partner_weight * count)
                assert sources.count(a) == count - sources.count(partner)
                assert len({(int(c), int(p)) for c, p in rows[:, 3:5].tolist()}) == count  # no point twice
    assert 0.35 < sum(weights) / len(weights) < 0.65  # Beta(1, 1): mean 1/2


def test_mixed_loss_is_the_cross_entropy_against_the_mixed_soft_target():
    torch.manual_seed(3)
    logits = torch.randn(6, 4, dtype=torch.float64)
    labels, partners, weight, eps = torch.tensor([0, 1, 2, 3, 0, 1]), torch.tensor([2, 2, 0, 1, 3, 3]), 0.3, 0.1
    loss, _ = classification_loss(logits, labels, None, 0.0, eps, partners, weight)
    target = (1 - weight) * F.one_hot(labels, 4).double() + weight * F.one_hot(partners, 4).double()
    soft = (1 - eps) * target + eps / 4
    expected = -(soft * logits.log_softmax(dim=1)).sum(dim=1).mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-12)


def test_the_epoch_trains_on_mixed_batches_with_the_mixed_loss():
    seen = []

    class Recording(PointNet):
        def forward(self, points):
            seen.append(points.clone())
            return super().forward(points)

    torch.manual_seed(4)
    model = Recording(3, dropout=0.0).double()
    points = identified_batch(batch=4, count=32)[..., :3].contiguous()
    points[..., 0] += torch.arange(4, dtype=torch.float64).view(-1, 1) * 100  # the cloud in x
    labels = torch.tensor([0, 1, 2, 0])
    sgd = torch.optim.SGD(model.parameters(), lr=0.0)
    torch.manual_seed(5)
    stats = Trainer(model, sgd, TrainSettings(reg_weight=0.0, cutmix_prob=1.0), torch.device("cpu")).epoch(
        [(points, labels)] * 8, show_progress=False)
    clouds = [set((batch[a, :, 0] / 100).round().long().tolist()) for batch in seen for a in range(4)]
    assert sum(len(c) == 2 for c in clouds) >= 16  # most clouds hold points of two clouds
    torch.manual_seed(5)
    mixes = [point_cutmix(points, labels, 1.0) for _ in range(8)]
    with torch.no_grad():
        expected = [classification_loss(model.train()(m.points)[0], labels, None, 0.0, 0.0, m.partner_labels,
                                        m.partner_weight)[0] for m in mixes if m is not None]
    assert len(expected) == 8 and stats.loss == pytest.approx(sum(e.item() for e in expected) / 8, rel=1e-9)
