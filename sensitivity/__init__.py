"""Sensitivity: Jacobian probe, zero-cost proxies and knee rules for the width search."""
