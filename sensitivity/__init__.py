"""Sensitivity: Jacobian probe, zero-cost proxies, knee rules and the probe's stop rule for the width search."""

DEFAULT_CONFIDENCE = 0.95  # the stop rule's default bootstrap agreement (light: no numpy import for the CLI)
