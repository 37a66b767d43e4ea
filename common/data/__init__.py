"""Data for any task: splits prepared once on disk (ragged id arrays under a keyed cache folder), length-bucketed batches, and the data module over the splits."""
