"""Search over an attention decoder: settings and hypotheses, greedy / sampling / beam search, ensembles, int8 inference."""
