"""Checkpoint files: read safely (no pickled code runs), loaded as modules and ensembles, written atomically, averaged."""
