"""``data.augment.tilt``: a rotation about x then y by angles uniform in ``[-tilt, tilt]``, before the spin about z;
normals turn with the points; the same law on the CPU and device pipelines; validated and reaching both from the
config."""
import math

import numpy as np
import pytest
import torch
from scipy import stats

from pointnet.apps.common import data_settings
from pointnet.apps.config import ConfigError, validate
from pointnet.data import Augmentation
from tests.helpers import compose, tiny_overrides
from tests.test_robust_augment import STILL, cloud, cpu_outputs, device_outputs


def rotation_of(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """The ``(3, 3)`` matrix ``R`` with ``after = before R^T`` (least squares over the points)."""
    solution, *_ = np.linalg.lstsq(before.astype(np.float64), after.astype(np.float64), rcond=None)
    return solution.T


def tilt_angles(rotation: np.ndarray) -> tuple[float, float]:
    """``(a, b)`` in degrees of ``R = R_y(b) R_x(a)``, whose row 1 is ``(0, cos a, -sin a)`` and column 0
    ``(cos b, 0, -sin b)``."""
    return (math.degrees(math.atan2(-rotation[1, 2], rotation[1, 1])),
            math.degrees(math.atan2(-rotation[2, 0], rotation[0, 0])))


@pytest.mark.parametrize("pipeline", [cpu_outputs, device_outputs], ids=["cpu", "device"])
def test_tilt_is_a_rotation_about_x_then_y_by_uniform_angles(pipeline):
    base = cloud(n=64)
    angles = []
    for out in pipeline(Augmentation(**STILL, tilt=20.0), base, 300):
        rotation = rotation_of(base, out)
        np.testing.assert_allclose(rotation @ rotation.T, np.eye(3), atol=1e-5)
        assert np.linalg.det(rotation) == pytest.approx(1.0, abs=1e-5)
        a, b = tilt_angles(rotation)
        expected = (np.array([[math.cos(math.radians(b)), 0, math.sin(math.radians(b))], [0, 1, 0],
                              [-math.sin(math.radians(b)), 0, math.cos(math.radians(b))]])
                    @ np.array([[1, 0, 0], [0, math.cos(math.radians(a)), -math.sin(math.radians(a))],
                                [0, math.sin(math.radians(a)), math.cos(math.radians(a))]]))
        np.testing.assert_allclose(rotation, expected, atol=1e-5)  # R_y(b) R_x(a), nothing else
        angles.append((a, b))
    angles = np.array(angles)
    assert np.abs(angles).max() <= 20.0 + 1e-3 and np.abs(angles).max() > 19.0
    for column in angles.T:
        assert stats.kstest(column, stats.uniform(loc=-20, scale=40).cdf).pvalue > 1e-3
    assert abs(np.corrcoef(angles.T)[0, 1]) < 0.2  # drawn independently


def test_tilt_comes_before_the_spin_about_z_and_turns_normals():
    base = cloud(n=64, channels=6)
    rotate = dict(STILL, rotate=True)
    for out in cpu_outputs(Augmentation(**rotate, tilt=10.0), base, 100):
        rotation = rotation_of(base[:, :3], out[:, :3])
        np.testing.assert_allclose(out[:, 3:], base[:, 3:] @ rotation.T, atol=1e-5)
        up = rotation[:, 2]  # where the shape's up axis goes: the spin about z keeps its tilt from z
        assert up[2] >= math.cos(math.radians(10)) ** 2 - 1e-5  # cos a cos b
    outs = cpu_outputs(Augmentation(**rotate, tilt=10.0), base, 200)
    spun = [rotation_of(base[:, :3], out[:, :3])[:, 0] for out in outs]
    heading = np.degrees(np.arctan2([v[1] for v in spun], [v[0] for v in spun]))
    assert stats.kstest(heading, stats.uniform(loc=-180, scale=360).cdf).pvalue > 1e-3  # any heading still


def test_cpu_and_device_pipelines_draw_the_same_tilts():
    base = cloud(n=64)
    augment = Augmentation(**STILL, tilt=30.0)
    cpu = np.array([tilt_angles(rotation_of(base, out)) for out in cpu_outputs(augment, base, 300)])
    device = np.array([tilt_angles(rotation_of(base, out)) for out in device_outputs(augment, base, 300)])
    for k in range(2):
        assert stats.ks_2samp(cpu[:, k], device[:, k]).pvalue > 1e-3


def test_off_by_default_leaves_the_other_draws_alone():
    base = torch.from_numpy(cloud(n=64))
    default = Augmentation()
    assert default.tilt == 0.0 and Augmentation(**STILL, tilt=5.0).enabled and not Augmentation(**STILL).enabled
    same = [default.transform(base, torch.Generator().manual_seed(3)) for _ in range(2)]
    torch.testing.assert_close(same[0], same[1], rtol=0, atol=0)
    tilted = Augmentation(tilt=5.0).transform(base, torch.Generator().manual_seed(3))
    assert not torch.equal(tilted, same[0])
    with pytest.raises(ValueError, match="tilt"):
        Augmentation(tilt=91.0)


def test_the_key_reaches_the_augmentation_and_bad_values_are_refused(tiny_data):
    cfg = compose(overrides=tiny_overrides(tiny_data, "data.augment.tilt=15"))
    validate(cfg)
    assert data_settings(cfg.data).augmentation().tilt == 15.0
    for value in ("-1", "91"):
        with pytest.raises(ConfigError, match=r"^data.augment.tilt: must be in \[0, 90\] degrees"):
            validate(compose(overrides=tiny_overrides(tiny_data, f"data.augment.tilt={value}")))
