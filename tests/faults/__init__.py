"""The fault-injection suite: real processes killed, disks filled, files corrupted, each a recorded trial."""
