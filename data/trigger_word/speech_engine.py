"""eSpeak NG through ctypes: the C library bundled by ``espeakng-loader``, one engine per process."""

from __future__ import annotations

import ctypes
import threading
import zlib
from pathlib import Path

import numpy as np

from data.trigger_word.audio import SAMPLE_RATE, resample, trim_silence


def bundled_data_path() -> str:
    """The eSpeak NG data directory that ships with ``espeakng-loader``."""
    return _loader().get_data_path()


def _loader():
    try:
        import espeakng_loader
    except ImportError as error:  # pragma: no cover - depends on the install
        raise ImportError("Trigger-word data needs eSpeak NG: pip install espeakng-loader") from error
    return espeakng_loader


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
    # The data directory this process's eSpeak NG was initialised from (the C library's own state).
    _initialised_from = None
    _initialise_lock = threading.Lock()

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
        callback_type = ctypes.CFUNCTYPE(
            ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)

        def collect(wav, num_samples, events):
            if num_samples > 0:
                self._chunks.append(np.ctypeslib.as_array(wav, shape=(num_samples,)).copy())
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
        with self._lock:
            self._chunks = []
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
        if status != 0 or not chunks:
            raise RuntimeError(f"eSpeak NG failed to speak {text!r} as {speaker.voice}")
        audio = np.concatenate(chunks).astype(np.float32) / 32768.0
        audio = resample(audio, self.sample_rate, SAMPLE_RATE)
        return trim_silence(audio)

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
