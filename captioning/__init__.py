"""Image captioning: Show, Attend and Tell on the shared core."""
