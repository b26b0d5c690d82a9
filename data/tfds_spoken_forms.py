"""The synthetic spoken numbers, dates and times as a TensorFlow Datasets builder.

    import tensorflow_datasets as tfds
    from data.tfds_spoken_forms import SpokenForms

    builder = SpokenForms(config="default", data_dir="~/tensorflow_datasets")
    builder.download_and_prepare()
    train = builder.as_dataset(split="train")  # {"audio", "transcript", "date_iso", "time", ...}

Nothing is downloaded: ``_split_generators`` synthesises the clips with
:func:`data.spoken_forms.make_spoken_clips` (eSpeak NG speech over numpy
backgrounds), with the splits' voices disjoint by voice variant; the
training split also holds speakers with generated voice variants
(``synthetic_voices``). ``other_engine_utterances`` > 0 adds a
``test_other_engines`` split of flite / festival voices
(:func:`data.other_engines.make_other_engine_spoken_clips`, evaluation only;
the engines must be installed). Other sizes are new
:class:`SpokenFormsConfig` objects.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow_datasets as tfds

from data import spoken_forms as sf
from data import trigger_word as tw


@dataclasses.dataclass
class SpokenFormsConfig(tfds.core.BuilderConfig):
    num_train_utterances: int = 20000
    num_validation_utterances: int = 500
    num_test_utterances: int = 1000
    other_engine_utterances: int = 0  # > 0 adds the test_other_engines split (flite / festival)
    speakers_per_variant: int = 2
    synthetic_voices: int = 1000  # training speakers with generated eSpeak variants (train split only)
    snr_db: tuple = sf.DEFAULT_SNR_DB
    background_kinds: tuple = tw.BACKGROUND_KINDS
    seed: int = 0


class SpokenForms(tfds.core.GeneratorBasedBuilder):
    """Synthetic utterances of digit strings, numbers, dates and times, with transcripts and meanings."""

    VERSION = tfds.core.Version(f"1.0.{sf.SPOKEN_FORMS_VERSION}")
    RELEASE_NOTES = {f"1.0.{sf.SPOKEN_FORMS_VERSION}": "Grammar of spoken forms, eSpeak NG voices."}
    BUILDER_CONFIGS = [
        SpokenFormsConfig(name="default", description="20,000 / 500 / 1,000 utterances."),
        SpokenFormsConfig(name="tiny", description="A few utterances, for tests.",
                          num_train_utterances=3, num_validation_utterances=2,
                          num_test_utterances=2, speakers_per_variant=1, synthetic_voices=2,
                          background_kinds=("white", "pink", "silence")),
    ]

    def _info(self):
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict({
                "audio": tfds.features.Audio(shape=(None,), dtype=np.int16,
                                             sample_rate=tw.SAMPLE_RATE),
                "transcript": tfds.features.Text(),
                "category": tfds.features.ClassLabel(names=list(sf.CATEGORIES)),
                "date_iso": tfds.features.Text(),
                "time": tfds.features.Text(),
                "number": tfds.features.Text(),
                "speaker": tfds.features.Text(),
                "background": tfds.features.Text(),
            }),
            supervised_keys=("audio", "transcript"),
            description=__doc__.split("\n\n")[0],
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # nothing to download
        config = self.builder_config
        splits = {
            "train": self._generate_examples("train", config.num_train_utterances),
            "validation": self._generate_examples("validation", config.num_validation_utterances),
            "test": self._generate_examples("test", config.num_test_utterances),
        }
        if config.other_engine_utterances:
            splits["test_other_engines"] = self._generate_examples(
                "test_other_engines", config.other_engine_utterances)
        return splits

    def _generate_examples(self, split, num_utterances):
        config = self.builder_config
        if split == "test_other_engines":
            from data.other_engines import make_other_engine_spoken_clips

            clips = make_other_engine_spoken_clips(
                num_utterances, seed=config.seed, snr_db=tuple(config.snr_db),
                background_kinds=tuple(config.background_kinds))
        else:
            clips = sf.make_spoken_clips(
                split, num_utterances, seed=config.seed,
                speakers_per_variant=config.speakers_per_variant,
                synthetic_voices=config.synthetic_voices if split == "train" else 0,
                snr_db=tuple(config.snr_db), background_kinds=tuple(config.background_kinds))
        for index in range(len(clips)):
            speaker = clips.speakers[index]
            yield f"{split}-{index}", {
                "audio": clips.waveforms.int16(index),
                "transcript": clips.transcripts[index],
                "category": clips.categories[index],
                "date_iso": clips.date_iso[index],
                "time": clips.times[index],
                "number": clips.numbers[index],
                "speaker": speaker.voice if isinstance(speaker, tw.Speaker) else str(speaker),
                "background": clips.backgrounds[index],
            }
