"""Machine translation on the shared core: a (Bi)LSTM/GRU encoder and parallel-text data."""
