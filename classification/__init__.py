"""Many-to-one classification: a sentence (or a symbol string) -> one label, through a recurrent encoder and a pooling."""
