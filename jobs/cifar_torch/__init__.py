"""PyTorch CIFAR-10 CNN (the Ray Tune tutorial), tuned for layer sizes, lr and batch size with ASHA."""
