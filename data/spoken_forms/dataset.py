"""Spoken clips as a ``tf.data`` pipeline of padded batches for CTC training and evaluation."""

from __future__ import annotations

import numpy as np

from data.spoken_forms.clips import SpokenClips
from data.spoken_forms.normalize import encode_transcript
from data.trigger_word import coloured_noise


def augment_waveform(rng: np.random.Generator, waveform: np.ndarray) -> np.ndarray:
    """A random gain (-6..+6 dB), speed change (0.9..1.1, pitch moving with it) and, half the
    time, extra white or pink noise at 10-40 dB below the clip; kept within [-1, 1].

    The words stay the same, so the labels do.
    """
    speed = rng.uniform(0.9, 1.1)
    num_samples = max(1, int(round(len(waveform) / speed)))
    positions = np.linspace(0, len(waveform) - 1, num_samples)
    waveform = np.interp(positions, np.arange(len(waveform)), waveform).astype(np.float32)
    if rng.random() < 0.5:
        noise = coloured_noise(rng, len(waveform), float(rng.choice([0.0, -1.0])))
        level = np.sqrt(np.mean(waveform ** 2)) * 10 ** (-rng.uniform(10, 40) / 20)
        waveform = waveform + level * noise
    waveform = waveform * 10 ** (rng.uniform(-6, 6) / 20)
    peak = float(np.max(np.abs(waveform))) + 1e-7
    if peak > 0.99:
        waveform = waveform * (0.99 / peak)
    return waveform.astype(np.float32)


class _Batches:
    """The generator behind :func:`make_dataset`: ``batches(epoch)`` yields that epoch's padded batches.

    The order and the augmentation are a function of ``(seed, epoch)`` alone,
    never of how often the generator ran before (Keras peeks a batch from an
    extra iterator before fitting under a distribution strategy).
    """

    def __init__(self, clips: SpokenClips, batch_size: int, shuffle: bool, seed: int,
                 augment: bool, bucket_batches: int, pad_to_multiple: int):
        self.clips, self.batch_size, self.shuffle, self.seed = clips, batch_size, shuffle, seed
        self.augment, self.bucket_batches, self.pad_to_multiple = augment, bucket_batches, pad_to_multiple
        self.labels = [encode_transcript(text) for text in clips.transcripts]
        self.lengths = clips.num_samples

    def batch_order(self, epoch: int) -> list[np.ndarray]:
        """The clip indices of each batch of an epoch.

        In order without ``shuffle``. With it, a random permutation is cut into
        windows of ``bucket_batches`` batches, each window sorted by length
        and cut into batches (clips of similar length share a batch, so little
        of it is padding), and the batches are shuffled.
        """
        count, size = len(self.clips), self.batch_size
        if not self.shuffle:
            return [np.arange(start, min(start + size, count)) for start in range(0, count, size)]
        rng = np.random.default_rng([self.seed, epoch, 505])
        order = rng.permutation(count)
        window = size * max(1, self.bucket_batches)
        batches = []
        for start in range(0, count, window):
            part = order[start:start + window]
            part = part[np.argsort(self.lengths[part], kind="stable")]
            batches += [part[i:i + size] for i in range(0, len(part), size)]
        return [batches[i] for i in rng.permutation(len(batches))]

    def __call__(self, epoch):
        # Epoch 0 draws from [seed, 1, ...], as the first epoch always has.
        draw = int(epoch) + 1
        for batch in self.batch_order(draw):
            waveforms = [self.clips.waveforms[int(i)] for i in batch]
            if self.augment:
                waveforms = [augment_waveform(np.random.default_rng([self.seed, draw, 506, int(i)]), w)
                             for i, w in zip(batch, waveforms)]
            num_samples = np.array([len(w) for w in waveforms], np.int32)
            padded_length = int(num_samples.max())
            padded_length = -(-padded_length // self.pad_to_multiple) * self.pad_to_multiple
            audio = np.zeros((len(batch), padded_length), np.float32)
            for row, waveform in enumerate(waveforms):
                audio[row, :len(waveform)] = waveform
            label_length = np.array([len(self.labels[int(i)]) for i in batch], np.int32)
            labels = np.zeros((len(batch), max(1, int(label_length.max()))), np.int32)
            for row, index in enumerate(batch):
                labels[row, :label_length[row]] = self.labels[int(index)]
            yield ({"waveform": audio, "num_samples": num_samples},
                   {"labels": labels, "label_length": label_length})


def make_dataset(clips: SpokenClips, batch_size: int, shuffle: bool = False, seed: int = 0,
                 augment: bool = False, bucket_batches: int = 16, pad_to_multiple: int = 1, epoch=0):
    """A ``tf.data.Dataset`` of padded batches ``(features, targets)``.

    ``features``: ``{"waveform": float32 [B, T_max], "num_samples": int32 [B]}``,
    ``targets``: ``{"labels": int32 [B, L_max], "label_length": int32 [B]}``.
    Waveforms are zero-padded to the longest in the batch (rounded up to a
    multiple of ``pad_to_multiple``); labels are CTC classes 1..27
    (:func:`encode_transcript`), padded with 0 (the blank, never a label).

    Args:
        clips: :class:`SpokenClips`.
        batch_size: clips per batch (the last batch may be smaller).
        shuffle: a new order every epoch, with clips of similar length batched
            together (see ``_Batches.batch_order``); without it, the clips'
            own order, so batch ``k`` holds clips ``k * batch_size ...``.
        seed: fixes the orders and augmentations of every epoch.
        augment: :func:`augment_waveform` on every clip, redrawn each epoch.
        bucket_batches: batches per length-sorted window when shuffling (1: none).
        pad_to_multiple: the padded length's multiple (e.g. the model's hop).
        epoch: which epoch of the seeded run this is (from 0; an int or an
            int64 scalar tensor, as :func:`tasks.common.fit.epoch_stream` feeds it).
    """
    import tensorflow as tf

    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer; received {batch_size}")
    if pad_to_multiple < 1:
        raise ValueError(f"pad_to_multiple must be a positive integer; received {pad_to_multiple}")
    batches = _Batches(clips, batch_size, shuffle, seed, augment, bucket_batches, pad_to_multiple)
    signature = ({"waveform": tf.TensorSpec((None, None), tf.float32),
                  "num_samples": tf.TensorSpec((None,), tf.int32)},
                 {"labels": tf.TensorSpec((None, None), tf.int32),
                  "label_length": tf.TensorSpec((None,), tf.int32)})
    dataset = tf.data.Dataset.from_generator(batches, args=(tf.cast(epoch, tf.int64),),
                                             output_signature=signature)
    num_batches = -(-len(clips) // batch_size)
    return dataset.apply(tf.data.experimental.assert_cardinality(num_batches)).prefetch(2)
