"""Datasets: nnU-Net raw I/O and validation, converters, synthetic family, shipped real data."""
