"""Grapheme-to-phoneme (NetTalk's task): letters -> ARPAbet phonemes, trained on the CMU Pronouncing Dictionary."""
