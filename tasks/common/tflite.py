"""TFLite conversion of one traced function of a Keras model, shared by the audio tasks' exports."""


def write_tflite(function, model, path):
    """Converts ``function`` (a ``tf.function`` with an input signature) to a TFLite flatbuffer at ``path``.

    Keras 3 gives TensorFlow variables non-unique names ("kernel", "bias"), which the
    converter's own freezing maps wrongly, so the variables are frozen by handle first.
    Only TFLite's builtin ops are allowed: the file must run on the plain interpreter.
    """
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    frozen = convert_variables_to_constants_v2(function.get_concrete_function())
    converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen], model)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    flatbuffer = converter.convert()
    with open(path, "wb") as handle:
        handle.write(flatbuffer)
    return path
