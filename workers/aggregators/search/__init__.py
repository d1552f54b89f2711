"""The `search` aggregator: fuzzy, prefix and multi-word text search over sounds (titles, tags,
metadata), tagged annotations, tags and creators' names, in a tantivy index on disk."""
