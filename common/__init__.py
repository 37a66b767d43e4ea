"""Shared core of captra: vocabulary, tokenizers, attention decoder, search, metrics, base module, CLI."""
