"""PyTorch CIFAR-10 CNN (the Ray Tune tutorial), tuned for layer sizes, lr and batch size with ASHA."""

# The image family the job runs in (images/ray/Dockerfile, FAMILY=torch): it holds everything the job imports.
# Its experiment files name that image (spec.image); tests/images/test_image_contents.py runs the job in it.
IMAGE_FAMILY = "torch"
