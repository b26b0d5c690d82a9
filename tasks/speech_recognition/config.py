"""Speech-recognition defaults in one place; every field is a ``--flag`` of ``train``.

The measurements behind the defaults are in the Speech recognition section of bench/RESULTS.md.
"""

import dataclasses

from tasks.common.config import (ConfigError, TrainConfig, option, require_choice, require_in_interval,
                                 require_non_negative, require_positive)

MODELS = ("birnn", "transformer")
CELLS = ("gru", "lstm")
# The decodings by name (ctc_decoding.decode): best path; prefix beam search; fused with the word LM; fused
# with the LM and held to its vocabulary.
DECODERS = ("greedy", "beam", "beam_lm", "beam_lm_lexicon")


@dataclasses.dataclass(frozen=True)
class Config(TrainConfig):
    """Train a character-level CTC speech recogniser for spoken numbers, dates and times."""

    model: str = option("birnn", "birnn (bidirectional recurrent layers of our own cells) or transformer "
                                 "(TransformerEncoderBlocks); the recurrent model reached a lower validation WER "
                                 "in the same CPU minutes.")
    num_train_utterances: int = option(10000, "Training utterances (about 7.5 hours of speech): the grammar's "
                                              "forms with many speakers each, and ten epochs of them fit the "
                                              "hour of training on 2 cores.")
    num_validation_utterances: int = option(300, "Enough words to see a WER of a few percent change from "
                                                 "epoch to epoch.")
    num_test_utterances: int = option(500, "Utterances of voice variants neither training nor validation heard, "
                                           "a few thousand words, so WER is measured to a fraction of a percent.")
    synthetic_voices: int = option(600, "Extra training speakers from generated eSpeak variants, so the model "
                                        "learns the words rather than the training timbres.")
    cache_dir: str = option("", "Clip cache (empty means the data module's default), so speech is "
                                "synthesised once.")
    augment: bool = option(True, "Waveform augmentation of the training clips, redrawn every epoch (speed, gain, "
                                 "extra white or pink noise), for robustness to other voices and microphones.")
    num_mel_bins: int = option(64, "Mel bands of the log-mel front end; 64 resolve formants at 16 kHz at a "
                                   "modest cost.")
    subsampling: int = option(3, "Time reduction of the convolutions (2, 3 or 4): 30 ms frames leave room for "
                                 "33 labels a second, which fast eSpeak digit strings need (40 ms frames were too "
                                 "few for some), at a third of the recurrent steps.")
    conv_filters: int = option(128, "Channels of the two subsampling convolutions.")
    units: int = option(128, "Units per direction of each recurrent layer, or the Transformer's width.")
    num_layers: int = option(3, "Recurrent layers or Transformer blocks; three see a whole spoken number.")
    cell: str = option("gru", "gru or lstm: the GRU has three quarters of the LSTM's weights and trains as "
                              "well here.", applies_to="birnn")
    num_heads: int = option(4, "Attention heads of each Transformer block.", applies_to="transformer")
    intermediate_dim: int = option(256, "Feed-forward width of each Transformer block, twice --units.",
                                   applies_to="transformer")
    dropout: float = option(0.1, "Light dropout between layers: the data are plentiful and varied.")
    time_masks: int = option(2, "SpecAugment time masks per training utterance, so no single frame is needed.")
    time_mask_frames: int = option(10, "Longest time mask in 10 ms frames: shorter than a phoneme or two.")
    frequency_masks: int = option(2, "SpecAugment frequency masks per training utterance, against other "
                                     "engines' spectral colour.")
    frequency_mask_bins: int = option(8, "Widest frequency mask, in mel bands.")
    epochs: int = option(10, "The cosine schedule's length, what the hour of training on 2 cores affords.")
    batch_size: int = option(32, "32 utterances of a few seconds per step train stably with Adam.")
    learning_rate: float = option(2e-3, "Peak of a cosine decay to 5%, after a short warmup; the recurrent "
                                        "model is stable at this rate with gradient clipping.")
    warmup_steps: int = option(200, "Linear warmup from 0, so CTC's large early gradients do not derail the "
                                    "recurrent layers.")
    beam_width: int = option(8, "Prefix beam search width of the beam signature and the evaluation.")
    lm_order: int = option(3, "Word n-gram order of the language model built from the training transcripts; "
                              "0 for none.")
    lm_weight: float = option(0.5, "Weight of the language model's log-probability in the beam search.")
    word_bonus: float = option(1.0, "Score added per word in the beam search with the language model, "
                                    "against its bias to short outputs.")
    serving_decoder: str = option("beam_lm_lexicon", "Decoding of the SavedModel's serving_default: greedy, beam, "
                                                     "beam_lm (beam with the language model) or beam_lm_lexicon "
                                                     "(also held to the LM's words), which misspells no word of the "
                                                     "form's small vocabulary and costs little more than greedy.")
    min_confidence: float = option(0.6, "The SavedModel answers an empty text below this confidence: the highest "
                                        "threshold that empties no right transcript of the validation clips, which "
                                        "also empties the noise the decoder would force into words.")
    wer_every_epoch: bool = option(True, "Greedy WER on the validation clips at every epoch end, logged as "
                                         "val_wer.")

    def __post_init__(self):
        require_choice(self, "model", MODELS)
        require_choice(self, "cell", CELLS)
        require_choice(self, "serving_decoder", DECODERS)
        if self.serving_decoder.startswith("beam_lm") and not self.lm_order:
            raise ConfigError(f"--serving-decoder {self.serving_decoder} needs a language model: set --lm-order "
                              "above 0, or --serving-decoder greedy or beam.")
        require_positive(self, "num_train_utterances", "num_validation_utterances", "num_test_utterances",
                         "num_mel_bins", "conv_filters", "units", "num_layers", "num_heads",
                         "intermediate_dim", "beam_width")
        if self.subsampling not in (2, 3, 4):
            raise ConfigError(f"Invalid value for --subsampling. Expected 2, 3 or 4. Received: {self.subsampling}")
        if self.model == "transformer" and self.units % self.num_heads:
            raise ConfigError(f"Invalid value for --units. Expected a multiple of --num-heads "
                              f"({self.num_heads}) for the transformer. Received: {self.units}")
        require_non_negative(self, "synthetic_voices", "time_masks", "time_mask_frames", "frequency_masks",
                             "frequency_mask_bins", "warmup_steps", "lm_order", "lm_weight")
        if self.frequency_mask_bins >= self.num_mel_bins:
            raise ConfigError(f"Invalid value for --frequency-mask-bins. Expected fewer than --num-mel-bins "
                              f"({self.num_mel_bins}). Received: {self.frequency_mask_bins}")
        require_in_interval(self, "dropout", "[0, 1)")
        require_in_interval(self, "min_confidence", "[0, 1]")
