"""Cochlea: a GraphQL API for annotating audio that lives anywhere on the internet."""
