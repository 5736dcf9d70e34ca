"""Helpers for the Helm charts under ``charts/`` (documentation generation)."""
