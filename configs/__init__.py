"""Hydra configs, importable as `pointnet.configs` so installed console scripts find them."""
