"""The language-model task: a character (word, subword) language model on a text file (char-rnn), and networks predicting the next symbol of a formal language (Elman; Gers & Schmidhuber)."""
