"""``python -m pointnet.train``: kept so earlier commands (and torchrun lines) still start training."""
from pointnet.apps.train import main, train

__all__ = ["main", "train"]

if __name__ == "__main__":
    main()
