"""The character language model: embedding, stacked recurrent layers, logits.

    x<t> = E[c<t-1>]                       (batch, time, embedding_dim)
    a<t>[l] = cell_l(a<t>[l-1], a<t-1>[l])  (batch, time, units), l = 1..num_layers
    y^<t> = softmax(W_y a<t>[L] + b_y)      (batch, time, vocabulary)

The cells are this repository's ``layers.SimpleRNNCell``, ``GRUCell`` and ``LSTMCell``
inside ``keras.layers.RNN``. Training sees whole sequences; sampling reuses the same
layers one step at a time (:func:`step`), so the SavedModel needs no second model.
"""

import keras
from keras import ops

from layers import GRUCell, LSTMCell, SimpleRNNCell

CELL_CLASSES = {"simple_rnn": SimpleRNNCell, "gru": GRUCell, "lstm": LSTMCell}


def make_cell(cell, units, dropout=0.0, seed=None, name=None):
    """One recurrent cell from ``layers/`` by its config name."""
    if cell not in CELL_CLASSES:
        raise ValueError(f"Invalid value for argument cell. Expected one of {tuple(CELL_CLASSES)}. Received: cell={cell!r}")
    return CELL_CLASSES[cell](units, dropout=dropout, seed=seed, name=name)


@keras.saving.register_keras_serializable(package="seqmodels")
class Perplexity(keras.metrics.Metric):
    """exp(mean cross-entropy per predicted character), padding (weight 0) excluded.

    Call arguments (``update_state``): ``y_true`` ids (batch, time), ``y_pred`` logits
    (batch, time, vocabulary), ``sample_weight`` (batch, time) with 0 on padding.
    """

    def __init__(self, name="perplexity", dtype=None, **kwargs):
        super().__init__(name=name, dtype=dtype, **kwargs)
        self.total_loss = self.add_variable(shape=(), initializer="zeros", name="total_loss")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        losses = keras.losses.sparse_categorical_crossentropy(y_true, y_pred, from_logits=True)
        weights = ops.ones_like(losses) if sample_weight is None else ops.cast(sample_weight, losses.dtype)
        self.total_loss.assign_add(ops.sum(losses * weights))
        self.count.assign_add(ops.sum(weights))

    def result(self):
        return ops.exp(self.total_loss / ops.maximum(self.count, 1.0))

    def reset_state(self):
        self.total_loss.assign(0.0)
        self.count.assign(0.0)


def build_model(config, vocabulary_size):
    """A compiled character language model for ``config`` (tasks.text_generation.config.Config)."""
    # (batch, time) character ids; time is free so the same model scores names and text windows.
    inputs = keras.Input(shape=(None,), dtype="int32", name="characters")
    x = keras.layers.Embedding(vocabulary_size, config.embedding_dim, name="embedding")(inputs)
    for index in range(config.num_layers):
        cell = make_cell(config.cell, config.units, config.dropout, seed=config.seed + index, name=f"cell_{index}")
        # (batch, time, units)
        x = keras.layers.RNN(cell, return_sequences=True, name=f"rnn_{index}")(x)
    # (batch, time, vocabulary): logits; the softmax lives in the loss and in sampling.
    logits = keras.layers.Dense(vocabulary_size, name="logits")(x)
    model = keras.Model(inputs, logits, name=f"char_{config.cell}_{config.num_layers}x{config.units}")

    clipping = {}
    if config.clipnorm:
        clipping["global_clipnorm"] = config.clipnorm
    if config.clipvalue:
        clipping["clipvalue"] = config.clipvalue
    model.compile(
        optimizer=keras.optimizers.Adam(config.learning_rate, **clipping),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        weighted_metrics=[Perplexity()],
    )
    return model


def recurrent_layers(model):
    """The ``keras.layers.RNN`` layers of a model from :func:`build_model`, bottom first."""
    return [layer for layer in model.layers if isinstance(layer, keras.layers.RNN)]


def initial_states(model, batch_size):
    """Zero states for every recurrent layer: a list (per layer) of lists of (batch, units) tensors."""
    return [list(layer.cell.get_initial_state(batch_size)) for layer in recurrent_layers(model)]


def step(model, token_ids, states):
    """One step of the model: (batch,) ids and states -> (batch, vocabulary) logits and new states."""
    x = model.get_layer("embedding")(token_ids)  # (batch, embedding_dim)
    new_states = []
    for layer, layer_states in zip(recurrent_layers(model), states):
        x, layer_states = layer.cell(x, layer_states, training=False)
        new_states.append(list(layer_states))
    return model.get_layer("logits")(x), new_states
