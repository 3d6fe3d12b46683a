"""datasets/converters."""
