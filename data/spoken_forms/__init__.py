"""Spoken numbers, dates and times for speech recognition (CTC): text, speech and tf.data.

No speech corpus can be downloaded here, so the data is made, deterministically
from a seed, with the trigger-word machinery (``data.trigger_word``):

1. **Grammar** (``grammar.py``): what people say into a voice form, digit
   strings, cardinal numbers, dates in every spoken form, times of day and
   sentences mixing them, each an :class:`Utterance` with its meaning
   (``date_iso``, ``time``, ``number``) for scoring speech -> text -> ISO.
2. **Normalisation** (``normalize.py``): the one rule for transcripts
   (lower case, ``o clock``, ``a m``, no digits, single spaces), the
   27-character ``ALPHABET`` and the CTC classes (0 is the blank, ``i`` is
   ``ALPHABET[i - 1]``; ``NUM_CLASSES = 28``).
3. **Speech** (``speech.py``, ``clips.py``): eSpeak NG speakers (shipped
   accents and variants, plus generated variants for training), split by
   voice variant as the trigger-word speakers are, say each utterance with
   jittered rate and pitch, in fresh processes; the speech is padded with
   background (trigger-word kinds, at random SNRs) and cached as int16
   ``.npy`` plus JSON under ``~/.cache/seqmodels/spoken_forms``.
4. **tf.data** (``dataset.py``): padded batches of waveforms and CTC labels,
   length-bucketed when shuffled, optionally augmented.

Speech from other engines (flite, festival), for evaluation only, is in
``data.other_engines``.

Example:

>>> clips = make_spoken_clips("test", 4, seed=0)  # doctest: +SKIP
>>> dataset = make_dataset(clips, batch_size=2)  # doctest: +SKIP
>>> features, targets = next(iter(dataset))  # doctest: +SKIP
>>> decode_ids(targets["labels"][0].numpy()) == clips.transcripts[0]  # doctest: +SKIP
True
"""

from data.spoken_forms.clips import (
    BABBLE_WORDS,
    DEFAULT_PADDING_SECONDS,
    DEFAULT_SNR_DB,
    SPOKEN_FORMS_VERSION,
    BabbleOptions,
    SpokenClipOptions,
    SpokenClips,
    Waveforms,
    default_cache_dir,
    jitter_prosody,
    load_babble_bank,
    make_cache,
    make_spoken_clips,
    mix_clips,
    mix_speech,
    synthesize_spoken_clips,
)
from data.spoken_forms.dataset import augment_waveform, make_dataset
from data.spoken_forms.grammar import (
    CATEGORIES,
    CATEGORY_WEIGHTS,
    MONTHS,
    WEEKDAYS,
    Utterance,
    cardinal_words,
    digit_words,
    generate_utterance,
    generate_utterances,
    ordinal_words,
    random_date,
    random_time,
    vocabulary,
    year_words,
)
from data.spoken_forms.normalize import (
    ALPHABET,
    BLANK,
    NUM_CLASSES,
    decode_ids,
    encode_transcript,
    normalize_transcript,
)
from data.spoken_forms.speech import CHUNK_SIZE, speech_text, synthesize_in_fresh_processes

__all__ = [
    "ALPHABET", "BABBLE_WORDS", "BLANK", "CATEGORIES", "CATEGORY_WEIGHTS", "CHUNK_SIZE",
    "DEFAULT_PADDING_SECONDS", "DEFAULT_SNR_DB", "MONTHS", "NUM_CLASSES", "SPOKEN_FORMS_VERSION",
    "WEEKDAYS",
    "BabbleOptions", "SpokenClipOptions", "SpokenClips", "Utterance", "Waveforms",
    "augment_waveform", "cardinal_words", "decode_ids", "default_cache_dir", "digit_words",
    "encode_transcript", "generate_utterance", "generate_utterances", "jitter_prosody",
    "load_babble_bank", "make_cache", "make_dataset", "make_spoken_clips", "mix_clips",
    "mix_speech", "normalize_transcript", "ordinal_words", "random_date", "random_time",
    "speech_text", "synthesize_in_fresh_processes", "synthesize_spoken_clips", "vocabulary",
    "year_words",
]
