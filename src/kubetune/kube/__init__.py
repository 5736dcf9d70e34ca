"""Kubernetes objects built from an experiment: the RayJob (for the operator, `kubetune render` and the jobs)."""
