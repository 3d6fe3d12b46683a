"""xtiny/training."""
