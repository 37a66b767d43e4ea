"""The `captra` command: LightningCLI for fit / validate / test / predict / prepare, its config files, and what the inference commands share."""
