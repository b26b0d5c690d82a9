"""eSpeak NG through ctypes: the C library bundled by ``espeakng-loader``, one engine per process."""

from __future__ import annotations

import ctypes
import threading
import zlib
from pathlib import Path

import numpy as np

from data.trigger_word.audio import SAMPLE_RATE, resample, trim_bounds, trim_silence


def _last_loud(audio, start, end, threshold_db=-35.0, frame=160):
    """The end (s) of the last 10 ms frame in ``[start, end)`` within ``threshold_db`` of its peak."""
    first, last = int(start * SAMPLE_RATE), int(end * SAMPLE_RATE)
    segment = audio[first:last]
    num_frames = len(segment) // frame
    if num_frames == 0:
        return end
    energy = np.sqrt(np.mean(segment[: num_frames * frame].reshape(num_frames, frame) ** 2, axis=1))
    loud = np.nonzero(energy > energy.max() * 10 ** (threshold_db / 20))[0]
    return (first + (loud[-1] + 1) * frame) / SAMPLE_RATE if len(loud) else end


def bundled_data_path() -> str:
    """The eSpeak NG data directory that ships with ``espeakng-loader``."""
    return _loader().get_data_path()


def _loader():
    try:
        import espeakng_loader
    except ImportError as error:  # pragma: no cover - depends on the install
        raise ImportError("Trigger-word data needs eSpeak NG: pip install espeakng-loader") from error
    return espeakng_loader


class _Event(ctypes.Structure):
    """``espeak_EVENT`` of speak_lib.h (the union ``id`` as 8 bytes)."""

    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint),
                ("text_position", ctypes.c_int), ("length", ctypes.c_int),
                ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", ctypes.c_char * 8)]


class EspeakEngine:
    """Minimal ctypes binding of the eSpeak NG C API, initialised from ``data_path``.

    Args:
        data_path: eSpeak NG's data directory; default the bundled one. Generated
            voice variants need the copy made by :func:`voice_data_with_variants`.

    eSpeak NG holds one global state per process (data directory, voice,
    synthesis callback) and initialises once, so a process makes one engine
    and passes it to whatever synthesises; a second engine is refused.
    Every synthesis call holds the engine's lock.
    """

    # espeak_PARAMETER values from speak_lib.h.
    _RATE, _VOLUME, _PITCH, _RANGE = 1, 2, 3, 4
    _AUDIO_OUTPUT_SYNCHRONOUS = 2
    _POS_CHARACTER = 1
    _CHARS_UTF8 = 1
    _PHONEMES_IPA = 2
    _EVENT_WORD, _EVENT_END = 1, 5
    # The data directory this process's eSpeak NG was initialised from (the C library's own state).
    _initialised_from = None
    _initialise_lock = threading.Lock()
    _process_engine = None
    _process_engine_lock = threading.Lock()

    @classmethod
    def for_this_process(cls, data_path=None) -> "EspeakEngine":
        """This process's engine, made on first use: for callers that share the process with others.

        Raises:
            RuntimeError: the process's eSpeak NG was initialised from another data directory.
        """
        with cls._process_engine_lock:
            if cls._process_engine is None:
                cls._process_engine = cls(data_path)
            engine = cls._process_engine
        wanted = str(data_path or _loader().get_data_path())
        if engine.data_path != wanted:
            raise RuntimeError(
                f"this process's eSpeak NG was initialised from {engine.data_path}, not {wanted}")
        return engine

    def __init__(self, data_path=None):
        loader = _loader()
        self.data_path = str(data_path or loader.get_data_path())
        self._lock = threading.Lock()
        with EspeakEngine._initialise_lock:
            if EspeakEngine._initialised_from is not None:
                raise RuntimeError(
                    f"eSpeak NG was already initialised in this process (from "
                    f"{EspeakEngine._initialised_from}); pass that EspeakEngine instead of making "
                    f"another")
            self._lib = ctypes.CDLL(loader.get_library_path())
            self._lib.espeak_Initialize.restype = ctypes.c_int
            self._lib.espeak_Initialize.argtypes = [
                ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
            self._lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
            self._lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
            self._lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
            self._lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
            self._lib.espeak_TextToPhonemes.argtypes = [
                ctypes.POINTER(ctypes.c_char_p), ctypes.c_int, ctypes.c_int]
            self._lib.espeak_Synth.argtypes = [
                ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
                ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
            self.sample_rate = self._lib.espeak_Initialize(
                self._AUDIO_OUTPUT_SYNCHRONOUS, 0, self.data_path.encode(), 0)
            if self.sample_rate <= 0:
                raise RuntimeError(f"espeak_Initialize failed with {self.sample_rate}")
            EspeakEngine._initialised_from = self.data_path
        self._chunks: list[np.ndarray] = []
        self._events: list = []  # (type, text_position, length, audio_position ms) of the call
        callback_type = ctypes.CFUNCTYPE(
            ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))

        def collect(wav, num_samples, events):
            if num_samples > 0:
                self._chunks.append(np.ctypeslib.as_array(wav, shape=(num_samples,)).copy())
            # The event list ends with an event of type 0 (espeakEVENT_LIST_TERMINATED).
            index = 0
            while events and events[index].type != 0:
                event = events[index]
                self._events.append((event.type, event.text_position, event.length,
                                     event.audio_position))
                index += 1
            return 0

        # Keep a reference: ctypes callbacks are freed with their Python object.
        self._callback = callback_type(collect)
        self._lib.espeak_SetSynthCallback(self._callback)

    def _voice_name(self, speaker) -> str:
        """eSpeak's name for the speaker's voice; unknown variants are an error.

        (eSpeak NG itself silently falls back to the plain voice.)
        """
        variant = speaker.espeak_variant
        if not (Path(self.data_path) / "voices" / "!v" / variant).is_file():
            hint = (" (generated variants need the data directory made by "
                    "voice_data_with_variants)" if variant != speaker.variant else "")
            raise ValueError(f"eSpeak NG has no voice variant {speaker.variant!r} in "
                             f"{self.data_path}{hint}")
        return f"{speaker.accent}+{variant}"

    def synthesize(self, text: str, speaker) -> np.ndarray:
        """Speaks ``text`` as ``speaker`` (a :class:`Speaker`): float32 16 kHz audio, silence trimmed."""
        return trim_silence(self._speak(text, speaker)[0])

    def synthesize_words(self, text: str, speaker):
        """Speaks ``text`` like :meth:`synthesize`, with each word's time in the returned audio.

        eSpeak NG's word events give each word's start (in ms of its output)
        and its characters in ``text``; a word ends where the next one (or
        the utterance) starts, less its trailing quiet frames (a pause at a
        comma is not part of the word).

        Returns:
            (audio float32 16 kHz, trimmed as :meth:`synthesize` trims it,
            [(start_s, end_s, word text)] in that audio's time).
        """
        raw, events = self._speak(text, speaker)
        first, last = trim_bounds(raw)
        audio = raw[first:last]
        encoded = text.encode()
        starts = [(position, length, ms / 1000.0) for kind, position, length, ms in events
                  if kind == self._EVENT_WORD]
        end_of_speech = len(audio) / SAMPLE_RATE
        words = []
        for index, (position, length, start) in enumerate(starts):
            # text_position counts characters from 1 (UTF-8 bytes here: the texts are ASCII).
            word = encoded[position - 1: position - 1 + length].decode(errors="replace")
            next_start = starts[index + 1][2] if index + 1 < len(starts) else None
            start = start - first / SAMPLE_RATE
            end = (next_start - first / SAMPLE_RATE) if next_start is not None else end_of_speech
            start, end = max(0.0, start), min(end, end_of_speech)
            words.append((start, _last_loud(audio, start, end), word))
        return audio, words

    def _speak(self, text: str, speaker):
        """(untrimmed float32 16 kHz audio, the call's events) of ``text`` said by ``speaker``."""
        with self._lock:
            self._chunks, self._events = [], []
            if self._lib.espeak_SetVoiceByName(self._voice_name(speaker).encode()) != 0:
                raise ValueError(f"eSpeak NG has no voice {speaker.voice!r}")
            # Every setting is made explicit and the noise generator reseeded, so a
            # word sounds the same whatever was synthesised before it.
            self._lib.espeak_ng_SetRandSeed(ctypes.c_long(zlib.crc32(f"{text}|{speaker}".encode())))
            self._lib.espeak_SetParameter(self._VOLUME, 100, 0)
            self._lib.espeak_SetParameter(self._RATE, int(speaker.rate), 0)
            self._lib.espeak_SetParameter(self._PITCH, int(speaker.pitch), 0)
            self._lib.espeak_SetParameter(self._RANGE, int(speaker.pitch_range), 0)
            encoded = text.encode() + b"\0"
            status = self._lib.espeak_Synth(
                encoded, len(encoded), 0, self._POS_CHARACTER, 0, 0, None, None)
            self._lib.espeak_Synchronize()
            chunks, self._chunks = self._chunks, []
            events, self._events = self._events, []
        if status != 0 or not chunks:
            raise RuntimeError(f"eSpeak NG failed to speak {text!r} as {speaker.voice}")
        audio = np.concatenate(chunks).astype(np.float32) / 32768.0
        return resample(audio, self.sample_rate, SAMPLE_RATE), events

    def text_to_phonemes(self, text: str, accent: str = "en-us") -> list[str]:
        """eSpeak NG's IPA phonemes for ``text`` in ``accent``, one string per phoneme.

        Stress marks are dropped and word boundaries ignored, so "hey computer"
        gives one sequence: ``['h', 'eɪ', 'k', 'ə', 'm', 'p', 'j', 'uː', 'ɾ', 'ɚ']``.
        """
        # Bits 8-23 of the phoneme mode name the separator eSpeak puts between phonemes.
        mode = self._PHONEMES_IPA | (ord("_") << 8)
        phonemes = []
        with self._lock:
            if self._lib.espeak_SetVoiceByName(accent.encode()) != 0:
                raise ValueError(f"eSpeak NG has no voice {accent!r}")
            # The call reads one clause and moves the pointer on; NULL marks the end.
            pointer = ctypes.c_char_p(text.encode())
            while pointer.value:
                clause = self._lib.espeak_TextToPhonemes(ctypes.byref(pointer), self._CHARS_UTF8, mode)
                for word in (clause or b"").decode().split():
                    phonemes += [p for p in word.replace("ˈ", "").replace("ˌ", "").split("_") if p]
        return phonemes
