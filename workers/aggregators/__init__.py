"""Aggregators: read-only users that follow the public streams and serve indexes of their own,
one package per aggregator (index, follower, its own GraphQL schema)."""
