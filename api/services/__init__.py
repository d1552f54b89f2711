"""The rules of the platform: permissions, validation, ids and stream order.

Services are async functions with keyword-only arguments. They take an `AsyncEngine` (or a
connection inside a transaction), return plain records and raise `api.errors` exceptions;
they never import GraphQL.
"""
