"""The console entry points, the structured config schema and its validation, and Hydra glue.

The only layer that imports Hydra or OmegaConf: it validates a config where it enters and hands
plain values to the layers below.
"""
