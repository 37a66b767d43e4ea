"""Training: the LightningModule a task subclasses, self-critical training, DDP helpers, RNG states and the logs."""
