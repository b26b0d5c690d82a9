"""Labels per output frame and the ``tf.data`` pipeline of whole clips or random crops."""

from __future__ import annotations

import numpy as np

from data.trigger_word.audio import CLIP_SECONDS, SAMPLE_RATE
from data.trigger_word.clips import TriggerWordClips
from data.trigger_word.word_bank import NEAR_MISS_WORDS

# The course labels 50 of its 1375 output frames per 10 s clip after each word.
LABEL_SECONDS = 50 * CLIP_SECONDS / 1375


def _frames_after(spans, num_frames: int, frame_seconds: float, value: float, elsewhere: float,
                  label_seconds: float) -> np.ndarray:
    """``value`` on the frames whose end lies in ``(start, end + label_seconds]`` of a span.

    Output frame ``t`` of a causal model summarises audio up to
    ``(t + 1) * frame_seconds``, so that is the time each frame is labelled at.
    """
    times = (np.arange(num_frames) + 1) * frame_seconds
    values = np.full(num_frames, elsewhere, np.float32)
    for start, end in spans:
        values[(times > start) & (times <= end + label_seconds)] = value
    return values


def frame_labels(triggers, num_frames: int, frame_seconds: float,
                 label_seconds: float = LABEL_SECONDS) -> np.ndarray:
    """Per-frame targets: 1 where a frame ends within ``label_seconds`` after a trigger ends."""
    return _frames_after([(trigger[1], trigger[1]) for trigger in triggers], num_frames,
                         frame_seconds, 1.0, 0.0, label_seconds)


def near_miss_weights(negatives, num_frames: int, frame_seconds: float, weight: float,
                      near_miss_words=NEAR_MISS_WORDS,
                      label_seconds: float = LABEL_SECONDS) -> np.ndarray:
    """Per-frame loss weights: ``weight`` from a near-miss word's start to a label window after it.

    False accepts fire where a near-miss ("activist", "captivate") ends, on the
    frames a trigger would have been labelled 1; weighting exactly those
    frames makes the loss dwell on the mistakes that set the threshold.
    """
    spans = [(start, end) for start, end, word in negatives if word in near_miss_words]
    return _frames_after(spans, num_frames, frame_seconds, weight, 1.0, label_seconds)


def crop_events(triggers, start_seconds: float, crop_seconds: float):
    """Trigger words of a crop ``[start, start + crop)``, in the crop's time.

    Only words that start inside the crop are kept: a word cut at the crop's
    start leaves only its tail, which the model cannot recognise (and the
    label would then teach it to fire on fragments). Words that end after the
    crop keep their (later) end time, so their labels fall outside the crop.
    """
    return [(start - start_seconds, end - start_seconds) for start, end in triggers
            if start_seconds <= start < start_seconds + crop_seconds]


def crop_start(rng: np.random.Generator, triggers, num_samples: int, crop_samples: int,
               frame_samples: int, positive_fraction: float,
               label_seconds: float = LABEL_SECONDS) -> int:
    """A crop start (a multiple of ``frame_samples``) for one training example.

    With probability ``positive_fraction`` (when the clip has a trigger) the
    crop holds one trigger word chosen at random together with its whole label
    window after it, at a random position; otherwise it starts anywhere.
    Starts on the model's frame grid keep the crop's labels aligned with the
    whole clip's.
    """
    last = (num_samples - crop_samples) // frame_samples
    if last <= 0:
        return 0
    if triggers and rng.random() < positive_fraction:
        start, end = triggers[int(rng.integers(len(triggers)))]
        # The crop must begin before the word and end after its label window.
        lowest = int(np.ceil(((end + label_seconds) * SAMPLE_RATE - crop_samples) / frame_samples))
        highest = int(np.floor(start * SAMPLE_RATE / frame_samples))
        lowest, highest = max(lowest, 0), min(highest, last)
        if lowest <= highest:
            return int(rng.integers(lowest, highest + 1)) * frame_samples
    return int(rng.integers(0, last + 1)) * frame_samples


class _ClipExamples:
    """The generator behind :func:`make_dataset`: ``examples(epoch)`` yields that epoch's examples.

    The order and the crops are a function of ``(seed, epoch)`` alone, never
    of how often the generator ran before: Keras peeks a batch from a fresh
    iterator before fitting under a distribution strategy, and that extra
    pass must not shift which clips the training epochs draw.
    """

    def __init__(self, clips: TriggerWordClips, num_frames: int, frame_seconds: float,
                 shuffle: bool, seed: int, crop_frames: int, positive_fraction: float,
                 near_miss_weight: float):
        self.clips, self.frame_seconds, self.shuffle, self.seed = clips, frame_seconds, shuffle, seed
        self.crop_frames, self.positive_fraction = crop_frames, positive_fraction
        self.near_miss_weight = near_miss_weight
        self.frame_samples = int(round(frame_seconds * clips.sample_rate))
        self.labels = np.stack([frame_labels(events, num_frames, frame_seconds)
                                for events in clips.events]) \
            if len(clips) else np.zeros((0, num_frames), np.float32)

    @property
    def weighted(self) -> bool:
        return self.near_miss_weight != 1.0

    def _example(self, waveform, label, negatives):  # negatives in the example's own time
        if not self.weighted:
            return waveform, label
        return waveform, label, near_miss_weights(negatives, len(label), self.frame_seconds,
                                                  self.near_miss_weight)

    def __call__(self, epoch):
        clips = self.clips
        num_samples = clips.waveforms.shape[1]
        crop_samples = self.crop_frames * self.frame_samples
        # Epoch 0 draws from [seed, 1], as the first epoch always has.
        draw = int(epoch) + 1
        order = np.arange(len(clips))
        if self.shuffle:
            order = np.random.default_rng([self.seed, draw]).permutation(len(clips))
        rng = np.random.default_rng([self.seed, draw, 404])
        for index in order:
            index = int(index)
            if not crop_samples:
                yield self._example(clips.waveform(index), self.labels[index], clips.negatives[index])
                continue
            start = crop_start(rng, clips.events[index], num_samples, crop_samples,
                               self.frame_samples, self.positive_fraction)
            offset = start / clips.sample_rate
            waveform = clips.waveforms[index, start:start + crop_samples].astype(np.float32) / 32767.0
            events = crop_events(clips.events[index], offset, crop_samples / clips.sample_rate)
            negatives = [(a - offset, b - offset, word) for a, b, word in clips.negatives[index]]
            yield self._example(waveform, frame_labels(events, self.crop_frames, self.frame_seconds),
                                negatives)


def make_dataset(clips: TriggerWordClips, num_frames: int, frame_seconds: float,
                 batch_size: int, shuffle: bool = False, seed: int = 0,
                 crop_seconds: float = 0.0, positive_fraction: float = 0.75,
                 near_miss_weight: float = 1.0, epoch=0):
    """A batched ``tf.data.Dataset`` of (waveform float32 (samples,), labels (num_frames,)).

    The dataset is epoch ``epoch`` (counted from 0; an int or an int64 scalar
    tensor) of a run seeded with ``seed``: with ``shuffle`` its order, and its
    crops, are drawn from ``(seed, epoch)``, so iterating it again gives the
    same examples. Training passes ``lambda epoch: make_dataset(..., epoch=epoch)``
    to :func:`tasks.common.fit.fit_resumable`, which feeds it the epoch index
    from ``tf.data``.

    With ``near_miss_weight`` != 1 the examples carry a third element, per-frame
    loss weights from :func:`near_miss_weights`.

    With ``crop_seconds`` > 0 every example is a random crop of that length
    (a multiple of the frame length) of one clip, redrawn every epoch:
    ``positive_fraction`` of them hold a whole trigger word and its label
    window (see :func:`crop_start`). The recurrence then runs over far fewer
    steps per word heard, so an epoch costs ``crop_seconds / clip_seconds``
    of a full-clip epoch; ``num_frames`` is the whole clip's frame count.
    """
    import tensorflow as tf

    num_samples = clips.waveforms.shape[1]
    frame_samples = int(round(frame_seconds * clips.sample_rate))
    crop_frames = int(round(crop_seconds / frame_seconds)) if crop_seconds else 0
    crop_samples = crop_frames * frame_samples
    if crop_seconds and not 0 < crop_samples <= num_samples:
        raise ValueError(f"crop_seconds must be between one frame and the clip length "
                         f"({num_samples / clips.sample_rate} s); received {crop_seconds}")
    examples = _ClipExamples(clips, num_frames, frame_seconds, shuffle, seed, crop_frames,
                             positive_fraction, near_miss_weight)
    example_samples, example_frames = ((crop_samples, crop_frames) if crop_samples
                                       else (num_samples, num_frames))
    signature = (tf.TensorSpec((example_samples,), tf.float32),
                 tf.TensorSpec((example_frames,), tf.float32))
    if examples.weighted:
        signature += (tf.TensorSpec((example_frames,), tf.float32),)
    epoch = tf.cast(epoch, tf.int64)
    dataset = tf.data.Dataset.from_generator(examples, args=(epoch,), output_signature=signature)
    dataset = dataset.apply(tf.data.experimental.assert_cardinality(len(clips)))
    return dataset.batch(batch_size).prefetch(2)
