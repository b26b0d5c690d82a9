"""A SavedModel that maps a prompt and a temperature to sampled text.

``serving_default(prompt: string[batch], temperature: float32[])`` returns
``{"text": string[batch]}``: each prompt followed by what the model sampled after it
(for names, up to the end of the name). Tokenisation, the sampling loop and
decoding all run in the graph, so a server needs nothing but TensorFlow:

    loaded = tf.saved_model.load("runs/text_generation/saved_model")
    loaded.signatures["serving_default"](prompt=tf.constant(["", "ma"]), temperature=tf.constant(0.8))

A second signature, ``generate(prompt, temperature, top_k, top_p, seed)``, exposes
top-k/top-p and a fixed seed (the same seed gives the same text).
"""

import tensorflow as tf

from tasks.text_generation.model import initial_states, step
from tasks.text_generation.sampling import generate_ids


class TextGenerator(tf.Module):
    """Wraps a trained character model with its vocabulary and sampling defaults.

    Args:
        model: a model from :func:`tasks.text_generation.model.build_model`.
        characters: the vocabulary, index -> character (index 0 padding, 1 the boundary).
        max_new_characters: characters to sample after the prompt at most.
        stop_at_boundary: end a row at the boundary character (names) or not (running text).
        lowercase: lower-case prompts first (the names model only knows lower case).
        top_k, top_p: the filters ``serving_default`` uses.
    """

    def __init__(self, model, characters, max_new_characters, stop_at_boundary, lowercase, top_k=0, top_p=1.0):
        super().__init__(name="text_generator")
        self.model = model
        # Every piece of model state the sampling graph may capture, the cells' dropout seed
        # generators included, must be reachable from the module for tf.saved_model.save.
        self.model_variables = list(model.variables)
        self.characters = tf.constant(list(characters))
        self.lowercase = lowercase
        self.max_new_characters = int(max_new_characters)
        self.end_id = 1 if stop_at_boundary else -1
        self.default_top_k = int(top_k)
        self.default_top_p = float(top_p)
        self.table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(list(characters)[1:]), tf.range(1, len(characters), dtype=tf.int32)
            ),
            default_value=-1,
        )

    def encode(self, prompts):
        """(batch,) strings -> (batch, max_length) ids padded with 0, and (batch,) lengths.

        Characters the model never saw are dropped.
        """
        if self.lowercase:
            prompts = tf.strings.lower(prompts, encoding="utf-8")
        characters = tf.strings.unicode_split(prompts, "UTF-8")  # ragged (batch, None)
        ids = tf.ragged.map_flat_values(self.table.lookup, characters)
        ids = tf.ragged.boolean_mask(ids, ids > 0)
        return ids.to_tensor(default_value=0), tf.cast(ids.row_lengths(), tf.int32)

    def decode(self, ids):
        """(batch, time) ids -> (batch,) strings; padding (index 0, the empty string) vanishes."""
        return tf.strings.reduce_join(tf.gather(self.characters, ids), axis=-1)

    def _generate(self, prompt, temperature, top_k, top_p, seed):
        prompt_ids, prompt_lengths = self.encode(prompt)
        batch_size = tf.shape(prompt_ids)[0]
        ids = generate_ids(
            lambda token, states: step(self.model, token, states),
            initial_states(self.model, batch_size),
            prompt_ids,
            prompt_lengths,
            start_id=1,
            pad_id=0,
            end_id=self.end_id,
            max_new_tokens=self.max_new_characters,
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            seed=seed,
        )
        return {"text": self.decode(ids)}

    @tf.function(input_signature=[
        tf.TensorSpec([None], tf.string, name="prompt"),
        tf.TensorSpec([], tf.float32, name="temperature"),
        tf.TensorSpec([], tf.int32, name="top_k"),
        tf.TensorSpec([], tf.float32, name="top_p"),
        tf.TensorSpec([2], tf.int64, name="seed"),
    ])
    def generate(self, prompt, temperature, top_k, top_p, seed):
        """Sampled text for each prompt with explicit filters and seed."""
        return self._generate(prompt, temperature, top_k, top_p, seed)

    @tf.function(input_signature=[
        tf.TensorSpec([None], tf.string, name="prompt"),
        tf.TensorSpec([], tf.float32, name="temperature"),
    ])
    def serve(self, prompt, temperature):
        """Sampled text for each prompt; a fresh random seed per call."""
        seed = tf.random.uniform([2], maxval=2**31 - 1, dtype=tf.int64)
        return self._generate(prompt, temperature, self.default_top_k, self.default_top_p, seed)


def make_generator(model, vocabulary, config):
    """A :class:`TextGenerator` for a model trained with ``config``."""
    return TextGenerator(
        model,
        vocabulary.characters,
        max_new_characters=config.sample_length,
        stop_at_boundary=config.stop_at_boundary,
        lowercase=config.corpus == "names",
        top_k=config.top_k,
        top_p=config.top_p,
    )


def export(model, vocabulary, config, export_dir):
    """Writes the SavedModel with ``serving_default`` and ``generate`` signatures."""
    generator = make_generator(model, vocabulary, config)
    tf.saved_model.save(
        generator,
        str(export_dir),
        signatures={"serving_default": generator.serve, "generate": generator.generate},
    )
    return generator
