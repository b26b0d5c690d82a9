"""Synthetic trigger-word clips: eSpeak NG speech over generated backgrounds.

No speech corpus can be downloaded here, so the data is made, deterministically
from a seed, the way the course's trigger-word exercise assembles its clips.
Each step lives in its own module:

1. **Speakers** (``voices.py``). eSpeak NG voices are combined from an English
   accent (``en-us``, ``en-gb-scotland``, ``en-029``, ...), a voice variant
   (``f3``, ``klatt2``, ``Andy``, ...; about a hundred ship with
   ``espeakng-loader``), a pitch, a pitch range and a speaking rate. Speakers
   are split into train / validation / test **by variant**, so the test split
   only holds voice variants the model never heard. Training can add speakers
   with *generated* variants (``synthetic_voices``, :func:`random_variant`:
   random vocal-tract length, formants, breathiness up to a whisper,
   roughness, spectral tilt, echo, Klatt synthesis): about 70 shipped timbres
   are too few to learn a word apart from the voice saying it, and the
   generated ones never touch the validation or test voices.
2. **Speech** (``speech_engine.py``): :class:`EspeakEngine`, eSpeak NG's C
   library through ctypes.
3. **Word bank** (``word_bank.py``). Every speaker says the trigger word a few
   times (with jittered rate and pitch) and every negative word once, in a
   fresh process. Negatives include near-misses ("activity", "captivate",
   "vacation", ...).
4. **Backgrounds** (``backgrounds.py``) made with numpy: white/pink/brown/blue
   noise, mains hum with harmonics, babble of overlapping negative words,
   near-silence, and mixtures.
5. **Clips** (``clips.py``) of 10 s at 16 kHz: triggers and negatives inserted
   without overlap at random signal-to-noise ratios.
6. **Labels and tf.data** (``dataset.py``): labels per output frame are 1 for
   the 50 course-frames (50 * 10 s / 1375 = 0.364 s) after each trigger word
   ends, converted to the model's frame rate by :func:`frame_labels`.

7. **Scenes** (``scenes.py``, when a clip's options hold :class:`SceneOptions`;
   the task's default for training, validation and test): rooms
   (``rooms.py``: a cached bank of ``pyroomacoustics`` shoebox rooms, speech
   and noise from different positions), the word inside sentences and
   near-miss sentences (``sentences.py``: labels at the word's end from
   eSpeak's word events), continuous speech of several talkers reading the
   text corpus, music-like and household-like backgrounds
   (``soundscapes.py``), and speed, pitch, EQ and channel augmentation
   (``augment.py``).
8. **Other engines** (``held_out_engines.py``): the same kinds of clips said
   by flite and festival voices (:mod:`data.other_engines`), for evaluation
   only.

Word banks and clips are cached (``cache.py``, :class:`ClipCache`): clips as
int16 ``.npy`` files (memory-mapped when read) next to a JSON file of event
times, under ``~/.cache/seqmodels/trigger_word`` unless a ``cache_dir`` is
given, each entry named by :func:`cache_key` of the options that made it. A
few thousand clips take a few minutes to make.

Example:

>>> clips = make_trigger_word_clips("train", num_clips=8, seed=0)
>>> clips.waveforms.shape
(8, 160000)
>>> labels = frame_labels(clips.events[0], num_frames=250, frame_seconds=0.04)
"""

from data.trigger_word.audio import CLIP_SECONDS, SAMPLE_RATE, resample, trim_silence
from data.trigger_word.augment import AugmentOptions
from data.trigger_word.backgrounds import (
    BACKGROUND_KINDS,
    babble,
    coloured_noise,
    mains_hum,
    make_background,
)
from data.trigger_word.cache import (
    GENERATOR_VERSION,
    ClipCache,
    cache_fields,
    cache_key,
    default_cache_dir,
)
from data.trigger_word.clips import (
    ClipOptions,
    TriggerWordClips,
    make_clip,
    make_trigger_word_clips,
    synthesize_clips,
)
from data.trigger_word.dataset import (
    LABEL_SECONDS,
    crop_events,
    crop_start,
    frame_labels,
    make_dataset,
    near_miss_weights,
)
from data.trigger_word.rooms import RoomOptions
from data.trigger_word.scenes import SceneOptions
from data.trigger_word.speech_engine import EspeakEngine
from data.trigger_word.voices import (
    ACCENTS,
    SPLITS,
    SYNTHETIC_VARIANT_DIR,
    SYNTHETIC_VARIANT_PREFIX,
    Speaker,
    make_speakers,
    random_variant,
    shipped_variants,
    synthetic_variant_name,
    voice_data_with_variants,
)
from data.trigger_word.word_bank import (
    DEFAULT_WORD,
    NEAR_MISS_WORDS,
    NEGATIVE_WORDS,
    OTHER_WORDS,
    WordBank,
    WordBankOptions,
    build_word_bank,
    build_word_bank_in_fresh_process,
    load_word_bank,
)

__all__ = [
    "ACCENTS", "BACKGROUND_KINDS", "CLIP_SECONDS", "DEFAULT_WORD", "GENERATOR_VERSION",
    "LABEL_SECONDS", "NEAR_MISS_WORDS", "NEGATIVE_WORDS", "OTHER_WORDS", "SAMPLE_RATE", "SPLITS",
    "SYNTHETIC_VARIANT_DIR", "SYNTHETIC_VARIANT_PREFIX",
    "AugmentOptions", "ClipCache", "ClipOptions", "EspeakEngine", "RoomOptions", "SceneOptions",
    "Speaker", "TriggerWordClips", "WordBank", "WordBankOptions",
    "babble", "build_word_bank", "build_word_bank_in_fresh_process", "cache_fields", "cache_key",
    "coloured_noise", "crop_events", "crop_start", "default_cache_dir", "frame_labels",
    "load_word_bank", "mains_hum", "make_background", "make_clip", "make_dataset",
    "make_speakers", "make_trigger_word_clips", "near_miss_weights", "random_variant", "resample",
    "shipped_variants", "synthesize_clips", "synthetic_variant_name", "trim_silence",
    "voice_data_with_variants",
]
