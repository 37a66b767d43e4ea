"""`captra report`: decode a split with one or more checkpoints and write a BLEU evaluation report."""
