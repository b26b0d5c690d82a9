"""Reusable Keras 3 layers written in ``keras.ops``.

Importing this package registers every layer with Keras's serialisation
registry (package ``seqmodels``), so ``keras.models.load_model`` can rebuild
saved models without ``custom_objects``.
"""

# One import line per public layer, in the order of the architecture:
# attention, positions and Transformer blocks, recurrent cells, audio front end.
