"""Data sets on disk: their layouts and formats, the per-split cache, downloads, and inputs from outside a data set."""
