"""The synthetic trigger-word clips as a TensorFlow Datasets builder.

    import tensorflow_datasets as tfds
    from data.tfds_trigger_word import TriggerWord

    builder = TriggerWord(config="activate", data_dir="~/tensorflow_datasets")
    builder.download_and_prepare()
    train = builder.as_dataset(split="train")  # {"audio", "label_frames", "trigger_starts", ...}

Nothing is downloaded: ``_split_generators`` synthesises the clips with
:func:`data.trigger_word.make_trigger_word_clips` (eSpeak NG + numpy
backgrounds), with the splits' voices disjoint as there; the training split
also holds speakers with generated voice variants (``synthetic_voices``). Custom words or sizes
are new :class:`TriggerWordConfig` objects.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow_datasets as tfds

from data import trigger_word as tw

# Output frames of the trigger-word models: 40 ms (see tasks/trigger_word/model.py).
LABEL_FRAME_SECONDS = 0.04


@dataclasses.dataclass
class TriggerWordConfig(tfds.core.BuilderConfig):
    word: str = tw.DEFAULT_WORD
    num_train_clips: int = 4000
    num_validation_clips: int = 300
    num_test_clips: int = 500
    negative_test_clips: int = 360  # one hour of negative-only audio of the test voices
    clip_seconds: float = tw.CLIP_SECONDS
    speakers_per_variant: int = 2
    synthetic_voices: int = 1000  # training speakers with generated eSpeak variants (train split only)
    negative_words: tuple = tw.NEGATIVE_WORDS
    seed: int = 0


class TriggerWord(tfds.core.GeneratorBasedBuilder):
    """Synthetic 10 s clips with trigger words, negatives and labelled frames."""

    VERSION = tfds.core.Version(f"1.1.{tw.GENERATOR_VERSION}")
    RELEASE_NOTES = {
        f"1.1.{tw.GENERATOR_VERSION}": "Training split adds speakers with generated voice variants.",
    }
    BUILDER_CONFIGS = [
        TriggerWordConfig(name="activate", description="The course's trigger word."),
        TriggerWordConfig(name="tiny", description="A few short clips, for tests.",
                          num_train_clips=4, num_validation_clips=2, num_test_clips=2,
                          negative_test_clips=2, clip_seconds=3.0, speakers_per_variant=1,
                          synthetic_voices=2, negative_words=("activity", "captivate", "banana")),
    ]

    def _info(self):
        config = self.builder_config
        num_samples = int(round(config.clip_seconds * tw.SAMPLE_RATE))
        num_frames = int(np.ceil(config.clip_seconds / LABEL_FRAME_SECONDS))
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict({
                "audio": tfds.features.Audio(shape=(num_samples,), dtype=np.int16,
                                             sample_rate=tw.SAMPLE_RATE),
                "label_frames": tfds.features.Tensor(shape=(num_frames,), dtype=np.float32),
                "trigger_starts": tfds.features.Sequence(np.float32),
                "trigger_ends": tfds.features.Sequence(np.float32),
                "negative_words": tfds.features.Sequence(tfds.features.Text()),
            }),
            supervised_keys=("audio", "label_frames"),
            description=__doc__.split("\n\n")[0],
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # nothing to download
        config = self.builder_config
        return {
            "train": self._generate_examples("train", config.num_train_clips, False),
            "validation": self._generate_examples("validation", config.num_validation_clips, False),
            "test": self._generate_examples("test", config.num_test_clips, False),
            "test_negative": self._generate_examples("test", config.negative_test_clips, True),
        }

    def _generate_examples(self, split, num_clips, negative_only):
        config = self.builder_config
        clips = tw.make_trigger_word_clips(
            split, num_clips, seed=config.seed, word=config.word, clip_seconds=config.clip_seconds,
            negative_only=negative_only, speakers_per_variant=config.speakers_per_variant,
            negative_words=tuple(config.negative_words),
            synthetic_voices=config.synthetic_voices if split == "train" else 0)
        num_frames = int(np.ceil(config.clip_seconds / LABEL_FRAME_SECONDS))
        for index in range(len(clips)):
            events = clips.events[index]
            yield f"{split}-{int(negative_only)}-{index}", {
                "audio": np.asarray(clips.waveforms[index]),
                "label_frames": tw.frame_labels(events, num_frames, LABEL_FRAME_SECONDS),
                "trigger_starts": [float(s) for s, _ in events],
                "trigger_ends": [float(e) for _, e in events],
                "negative_words": [n[2] for n in clips.negatives[index]],
            }
