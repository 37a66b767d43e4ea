"""Layers: the Memory an encoder hands the decoder, attention over it, token embeddings, the attention decoder."""
