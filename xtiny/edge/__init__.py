"""xtiny/edge."""
