"""Converters from public routing datasets into the canonical trace format."""
