"""Reports built by pure functions from value types: cost tables, summaries."""
