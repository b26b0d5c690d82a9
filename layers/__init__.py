"""Reusable Keras 3 layers written in ``keras.ops``.

Importing this package registers every layer with Keras's serialisation
registry (package ``seqmodels``), so ``keras.models.load_model`` can rebuild
saved models without ``custom_objects``.
"""

# One import line per public layer, in the order of the architecture:
# attention, positions and Transformer blocks, recurrent cells, audio front end.
from layers.scaled_dot_product_attention import scaled_dot_product_attention
from layers.multi_head_attention import MultiHeadAttention
from layers.additive_attention import AdditiveAttention
from layers.sinusoidal_positional_encoding import SinusoidalPositionalEncoding
from layers.token_and_position_embedding import TokenAndPositionEmbedding
from layers.transformer_encoder_block import TransformerEncoderBlock
from layers.transformer_decoder_block import TransformerDecoderBlock
from layers.simple_rnn_cell import SimpleRNNCell
from layers.gru_cell import GRUCell
from layers.lstm_cell import LSTMCell
from layers.spectrogram import Spectrogram
from layers.log_mel_spectrogram import LogMelSpectrogram
