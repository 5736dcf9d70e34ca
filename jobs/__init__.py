"""Reference trainables, one folder each: importable as ``jobs.<name>.trainable``."""
