"""The date pairs of ``data.dates`` as a versioned TFDS dataset, built offline.

    import tensorflow_datasets as tfds
    from data.tfds_dates import DatePairs  # registers "date_pairs"

    DatePairs(data_dir="/tmp/tfds").download_and_prepare()
    train = tfds.load("date_pairs", split="train", data_dir="/tmp/tfds")
    # or a smaller configuration: tfds.load("date_pairs/small", ...)

Each example: ``human`` (the noisy human-written string), ``iso``
(``yyyy-mm-dd``) and ``family`` (the format family, a ``ClassLabel``). The
splits never share a normalised human string (see ``data.dates``).
"""

import dataclasses

import tensorflow_datasets as tfds

from data import dates


@dataclasses.dataclass
class DatePairsConfig(tfds.core.BuilderConfig):
    train_size: int = 50000
    validation_size: int = 5000
    test_size: int = 10000
    seed: int = 0


class DatePairs(tfds.core.GeneratorBasedBuilder):
    """Human-written dates in 23 format families paired with ISO 8601."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "23 format families, %y pivot 69/68, hash splits on the normalised string."}
    BUILDER_CONFIGS = [
        DatePairsConfig(name="default", description="50,000 / 5,000 / 10,000 pairs"),
        DatePairsConfig(name="small", description="2,000 / 200 / 500 pairs, for tests",
                        train_size=2000, validation_size=200, test_size=500),
    ]

    def _info(self):
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict({
                "human": tfds.features.Text(),
                "iso": tfds.features.Text(),
                "family": tfds.features.ClassLabel(names=list(dates.FAMILIES)),
            }),
            supervised_keys=("human", "iso"),
            description=__doc__,
        )

    def _split_generators(self, dl_manager):
        config = self.builder_config
        sizes = {"train": config.train_size, "validation": config.validation_size, "test": config.test_size}
        return {split: self._generate_examples(split, size) for split, size in sizes.items()}

    def _generate_examples(self, split, size):
        for index, pair in enumerate(dates.generate(size, split, seed=self.builder_config.seed)):
            yield index, {"human": pair.human, "iso": pair.iso, "family": pair.family}
