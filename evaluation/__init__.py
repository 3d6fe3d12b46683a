"""Evaluation: metrics, cost measures, comparison tables and reports."""
