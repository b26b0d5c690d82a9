"""Room acoustics: a bank of simulated room impulse responses, and their application to audio.

Users speak to a microphone across a room, not into it. A bank of shoebox
rooms is simulated with ``pyroomacoustics``' image-source method (MIT
licence): each room has random dimensions (2.5 x 2.5 x 2.2 m up to
12 x 10 x 4 m), a reverberation time drawn from ``rt60_range`` (turned into
wall absorption by Sabine's formula, :func:`pyroomacoustics.inverse_sabine`),
one microphone and **two** sources at random positions: one for the speech,
one for the background, so speech and noise reach the microphone through
different paths, as they do in a real room.

The bank is made deterministically from its :class:`RoomOptions` and cached
once (``rooms-<key>.npz`` in the clip cache), not per clip; clips then draw a
room from it. :func:`apply_room` convolves and restores the dry level, and
shifts the response so the direct sound arrives at the dry signal's time
(labels stay where the words are).
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np

from data.trigger_word.audio import SAMPLE_RATE
from data.trigger_word.cache import ClipCache, cache_fields, write_atomically

# The image-source order is capped for speed: the late tail of the most
# reverberant rooms is shortened a little, the early reflections are exact.
MAX_IMAGE_ORDER = 40
# Responses are cut where they have decayed by this much, at most MAX_RIR_SECONDS long.
DECAY_DB = 60.0
MAX_RIR_SECONDS = 1.0


@dataclasses.dataclass(frozen=True)
class RoomOptions:
    """What decides a room bank, and so its cache entry.

    Args:
        num_rooms: rooms in the bank.
        seed: fixes every room.
        rt60_range: reverberation times (s) drawn uniformly.
        min_dimensions, max_dimensions: room sizes (m) drawn uniformly per axis.
        max_distance: the farthest a source is placed from the microphone (m).
    """

    num_rooms: int = 64
    seed: int = 0
    rt60_range: tuple = (0.15, 0.9)
    min_dimensions: tuple = (2.5, 2.5, 2.2)
    max_dimensions: tuple = (12.0, 10.0, 4.0)
    max_distance: float = 5.0

    def __post_init__(self):
        if self.num_rooms < 1:
            raise ValueError(f"Invalid value for argument num_rooms. Expected a positive integer. "
                             f"Received: num_rooms={self.num_rooms}")
        low, high = self.rt60_range
        if not 0.05 <= low <= high <= 3.0:
            raise ValueError(f"Invalid value for argument rt60_range. Expected 0.05 <= low <= high "
                             f"<= 3 seconds. Received: rt60_range={self.rt60_range}")
        if len(self.min_dimensions) != 3 or len(self.max_dimensions) != 3 or any(
                not 1.0 <= a <= b for a, b in zip(self.min_dimensions, self.max_dimensions)):
            raise ValueError(f"Invalid room dimensions. Expected three sizes, 1 m <= min <= max. "
                             f"Received: {self.min_dimensions}, {self.max_dimensions}")
        if self.max_distance <= 0.3:
            raise ValueError(f"Invalid value for argument max_distance. Expected more than 0.3 m. "
                             f"Received: max_distance={self.max_distance}")
        for name in ("rt60_range", "min_dimensions", "max_dimensions"):
            object.__setattr__(self, name, tuple(float(v) for v in getattr(self, name)))


@dataclasses.dataclass
class RoomBank:
    """Impulse responses per room: ``speech[r]`` and ``noise[r]`` (float32, 16 kHz), and each room's facts."""

    speech: list
    noise: list
    rooms: list  # per room: {"dimensions", "rt60", "speech_distance", "noise_distance"}

    def __len__(self):
        return len(self.speech)

    def save(self, path, extra_meta: dict) -> None:
        pieces = self.speech + self.noise
        offsets = np.cumsum([0] + [len(p) for p in pieces])
        meta = dict(extra_meta, rooms=self.rooms)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, lambda temporary: np.savez(
            temporary, audio=np.concatenate(pieces).astype(np.float32), offsets=offsets,
            meta=np.array(json.dumps(meta))))

    @classmethod
    def load(cls, path) -> "RoomBank":
        stored = np.load(path, allow_pickle=False)
        audio, offsets = stored["audio"], stored["offsets"]
        pieces = [audio[offsets[i]:offsets[i + 1]] for i in range(len(offsets) - 1)]
        rooms = json.loads(str(stored["meta"]))["rooms"]
        return cls(pieces[:len(rooms)], pieces[len(rooms):], rooms)


def _position(rng, dimensions, margin=0.3, height=None):
    low = np.full(3, margin)
    high = np.asarray(dimensions) - margin
    point = rng.uniform(low, high)
    if height is not None:
        point[2] = float(np.clip(rng.uniform(*height), margin, dimensions[2] - margin))
    return point


def _source_near(rng, microphone, dimensions, max_distance, height):
    """A source position inside the room at most ``max_distance`` from the microphone."""
    for _ in range(100):
        point = _position(rng, dimensions, height=height)
        if 0.3 <= np.linalg.norm(point - microphone) <= max_distance:
            return point
    return _position(rng, dimensions, height=height)


def _trim(response: np.ndarray) -> np.ndarray:
    """From just before the direct sound to where the energy decay passes ``DECAY_DB``."""
    peak = int(np.argmax(np.abs(response)))
    # A few samples before the peak keep the direct path's fractional-delay filter whole.
    response = response[max(0, peak - 8):]
    energy = np.cumsum(response[::-1] ** 2)[::-1]
    remaining = energy / (energy[0] + 1e-20)
    end = int(np.searchsorted(-remaining, -10 ** (-DECAY_DB / 10)))
    end = min(max(end, 16), int(MAX_RIR_SECONDS * SAMPLE_RATE), len(response))
    return response[:end].astype(np.float32)


def simulate_room(rng: np.random.Generator, options: RoomOptions):
    """One room: (speech response, noise response, facts), both responses to the same microphone."""
    import pyroomacoustics as pra

    dimensions = rng.uniform(options.min_dimensions, options.max_dimensions)
    rt60 = float(rng.uniform(*options.rt60_range))
    try:
        absorption, order = pra.inverse_sabine(rt60, dimensions)
    except ValueError:  # the room is too small for that reverberation time: walls barely absorb
        absorption, order = 0.02, MAX_IMAGE_ORDER
    # Sabine gives a per-wall energy absorption; rooms differ in their materials too.
    absorption = float(np.clip(absorption * rng.uniform(0.8, 1.25), 0.01, 0.99))
    room = pra.ShoeBox(dimensions, fs=SAMPLE_RATE, materials=pra.Material(absorption),
                       max_order=int(min(order, MAX_IMAGE_ORDER)))
    microphone = _position(rng, dimensions, height=(0.7, 1.6))
    # Speech from a standing or sitting talker; the noise anywhere (a fridge, a radio, a window).
    speech = _source_near(rng, microphone, dimensions, options.max_distance, (1.0, 1.9))
    noise = _position(rng, dimensions)
    room.add_source(speech.tolist())
    room.add_source(noise.tolist())
    room.add_microphone(microphone.tolist())
    room.compute_rir()
    facts = {"dimensions": [round(float(d), 3) for d in dimensions], "rt60": round(rt60, 3),
             "absorption": round(absorption, 4),
             "speech_distance": round(float(np.linalg.norm(speech - microphone)), 3),
             "noise_distance": round(float(np.linalg.norm(noise - microphone)), 3)}
    return (_trim(np.asarray(room.rir[0][0])), _trim(np.asarray(room.rir[0][1])), facts)


def make_room_bank(options: RoomOptions) -> RoomBank:
    """Simulates every room of ``options``, deterministically."""
    speech, noise, rooms = [], [], []
    for index in range(options.num_rooms):
        s, n, facts = simulate_room(np.random.default_rng([options.seed, 707, index]), options)
        speech.append(s)
        noise.append(n)
        rooms.append(facts)
    return RoomBank(speech, noise, rooms)


def load_room_bank(options: RoomOptions, cache: ClipCache | None = None) -> RoomBank:
    """The room bank of ``options``: from the cache directory, or simulated and written there."""
    cache = ClipCache() if cache is None else cache
    path = cache.path("rooms", options, ".npz")
    if path is not None and path.exists():
        return RoomBank.load(path)
    bank = make_room_bank(options)
    if path is not None:
        bank.save(path, cache_fields(options))
    return bank


def apply_room(audio: np.ndarray, response: np.ndarray, keep_tail: bool = True) -> np.ndarray:
    """``audio`` heard through ``response``, at the dry RMS level, the direct sound on time.

    With ``keep_tail`` the reverberation after the end is kept
    (``len(audio) + len(response) - 1`` samples); otherwise the output is cut
    to the input's length (a background that fills the whole clip).
    """
    from scipy.signal import fftconvolve

    audio = np.asarray(audio, np.float32)
    wet = fftconvolve(audio, np.asarray(response, np.float32))
    if not keep_tail:
        wet = wet[:len(audio)]
    dry_rms = float(np.sqrt(np.mean(audio ** 2)))
    wet_rms = float(np.sqrt(np.mean(wet[:len(audio)] ** 2))) + 1e-12
    return (wet * (dry_rms / wet_rms)).astype(np.float32)


def reverberation_time(response: np.ndarray, sample_rate: int = SAMPLE_RATE) -> float:
    """RT60 estimated from the Schroeder decay between -5 and -25 dB (T20), in seconds."""
    energy = np.cumsum(np.asarray(response, np.float64)[::-1] ** 2)[::-1]
    decay = 10 * np.log10(energy / energy[0] + 1e-20)
    start, end = np.searchsorted(-decay, 5.0), np.searchsorted(-decay, 25.0)
    if end <= start + 1:
        return 0.0
    times = np.arange(start, end) / sample_rate
    slope = np.polyfit(times, decay[start:end], 1)[0]
    return float(-60.0 / slope)
