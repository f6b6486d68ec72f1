"""``python -m pointnet.train``: kept so earlier commands (and torchrun lines) still start training."""
if __name__ == "__main__":  # the bounded OpenMP spin, set before torch loads (pointnet.apps.openmp)
    from pointnet.apps.openmp import quiet_openmp
    quiet_openmp()

from pointnet.apps.train import main, train

__all__ = ["main", "train"]

if __name__ == "__main__":
    main()
