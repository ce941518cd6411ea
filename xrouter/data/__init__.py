"""Data layer: the canonical trace format, the data directory, dataset converters and loaders."""
