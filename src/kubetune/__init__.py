"""kubetune: hyperparameter tuning on Kubernetes with Ray Tune, KubeRay and Prometheus."""

__version__ = "0.1.0"
