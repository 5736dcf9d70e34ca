"""PyTorch MNIST ConvNet (the Ray Tune tutorial), tuned for lr and momentum with ASHA."""
