"""The one error type every layer shares: a setting that cannot work, named by its config key.

It lives below all layers so that training code (batch splits, process groups) can refuse a value
with the key a user typed, while only the apps know that keys come from Hydra.
"""
from __future__ import annotations


class ConfigError(ValueError):
    """A config value that cannot work; the message starts with the key."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
