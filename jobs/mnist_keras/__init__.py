"""Keras MNIST CNN (Ray's tune_mnist_keras example), tuned with ASHA, PBT or HyperOpt."""

# The image family the job runs in (images/ray/Dockerfile, FAMILY=tensorflow): it holds everything the job imports.
# Its experiment files name that image (spec.image); tests/images/test_image_contents.py runs the job in it.
IMAGE_FAMILY = "tensorflow"
