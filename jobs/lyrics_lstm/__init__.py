"""Keras LSTM lyrics generator (the word-level tutorial), tuned for lr and layer sizes; TensorFlow GPU-ready."""
