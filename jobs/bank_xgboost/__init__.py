"""XGBoost on the UCI bank-marketing table (the SageMaker direct-marketing tutorial), tuned for validation AUC."""

# The image family the job runs in (images/ray/Dockerfile, FAMILY=xgboost): it holds everything the job imports.
# Its experiment files name that image (spec.image); tests/images/test_image_contents.py runs the job in it.
IMAGE_FAMILY = "xgboost"
