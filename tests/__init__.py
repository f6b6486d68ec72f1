"""The suite that ``.ci/run`` runs (``scripts/test.sh``): fixtures in ``fixtures/``, fault injection in ``faults/``."""
