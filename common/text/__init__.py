"""Text <-> ids: vocabularies, tokenizers (word level, SentencePiece), one language's pipeline, and reading text files."""
