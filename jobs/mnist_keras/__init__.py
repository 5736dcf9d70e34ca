"""Keras MNIST CNN (Ray's tune_mnist_keras example), tuned with ASHA, PBT or HyperOpt."""
