"""Helpers of bench/search.py: the compute budget and the in-process runner for Optuna used directly."""
