"""Deterministic data pipelines returning ``tf.data.Dataset`` objects."""
