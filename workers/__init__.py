"""Cochlea's workers: bots that follow the API's streams as GraphQL clients."""
