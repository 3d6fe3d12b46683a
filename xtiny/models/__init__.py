"""xtiny/models."""
