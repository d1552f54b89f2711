"""Dataset importers: one module per collection format, each publishing as a DATASET user
through the public API (as any third-party client would), resumably and idempotently."""
