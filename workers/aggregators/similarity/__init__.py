"""The `similarity` aggregator: segments of sound that sound alike, and a map of them all."""
