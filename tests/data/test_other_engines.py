"""Tests of the other speech engines (flite, festival): evaluation-only speech."""

import numpy as np
import pytest

from data import other_engines as oe
from data import spoken_forms as sf

ENGINES = oe.available_engines()
needs_flite = pytest.mark.skipif("flite" not in ENGINES,
                                 reason="flite is not installed (apt-get install flite)")
needs_festival = pytest.mark.skipif("festival" not in ENGINES,
                                    reason="festival is not installed (apt-get install festival)")


def test_available_engines_lists_general_voices_only():
    for engine, voices in ENGINES.items():
        assert engine in oe.ENGINES and voices
        assert not set(voices) & set(oe.LIMITED_DOMAIN_VOICES[engine])


@needs_flite
def test_flite_speaks_16khz_audio_stretched_on_request():
    voice = ENGINES["flite"][-1]
    audio = oe.synthesize("flite", voice, "seven four two oh nine")
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert 0.5 * 16000 < len(audio) < 4 * 16000
    slow = oe.synthesize("flite", voice, "seven four two oh nine", duration_stretch=1.3)
    assert 1.15 < len(slow) / len(audio) < 1.45
    np.testing.assert_array_equal(audio, oe.synthesize("flite", voice, "seven four two oh nine"))
    # An 8 kHz voice comes back at 16 kHz too, as long as the 16 kHz one.
    if {"kal", "kal16"} <= set(ENGINES["flite"]):
        ratio = len(oe.synthesize("flite", "kal", "ten")) / len(oe.synthesize("flite", "kal16", "ten"))
        assert 0.8 < ratio < 1.25
    with pytest.raises(ValueError, match="no voice 'nosuch'"):
        oe.synthesize("flite", "nosuch", "ten")


@needs_festival
def test_festival_speaks_16khz_audio_stretched_on_request():
    voice = ENGINES["festival"][0]
    audio = oe.synthesize("festival", voice, "ten o'clock")
    assert 0.3 * 16000 < len(audio) < 3 * 16000
    slow = oe.synthesize("festival", voice, "ten o'clock", duration_stretch=1.3)
    assert 1.1 < len(slow) / len(audio) < 1.5
    with pytest.raises(ValueError, match="no voice 'nosuch'"):
        oe.synthesize("festival", "nosuch", "ten")


def test_invalid_arguments():
    with pytest.raises(ValueError, match="Unknown engine"):
        oe.synthesize("sam", "x", "ten")
    with pytest.raises(ValueError, match="duration_stretch"):
        oe.synthesize("flite", "slt", "ten", duration_stretch=10)
    with pytest.raises(RuntimeError, match="No other speech engine"):
        oe.make_other_engine_spoken_clips(2, voices=[], cache_dir=False)
    with pytest.raises(ValueError, match="engine/voice"):
        oe.make_other_engine_spoken_clips(2, voices=["espeak/m3"], cache_dir=False)


@needs_flite
def test_other_engine_clips_are_grammar_utterances_cached_and_deterministic(tmp_path):
    voices = [f"flite/{v}" for v in ENGINES["flite"][:2]]
    if "festival" in ENGINES:
        voices.append(f"festival/{ENGINES['festival'][0]}")
    kwargs = dict(seed=0, voices=voices, background_kinds=("pink", "silence", "babble"),
                  verbose=False)
    clips = oe.make_other_engine_spoken_clips(4, cache_dir=tmp_path, **kwargs)
    expected = sf.generate_utterances(4, seed=0, stream=oe.OTHER_ENGINES_STREAM)
    assert clips.transcripts == [u.text for u in expected]
    assert clips.times == [u.time for u in expected]
    assert set(clips.speakers) <= set(voices)
    # Their own texts, not those of an eSpeak split.
    for split in range(3):
        assert clips.transcripts != [u.text for u in sf.generate_utterances(4, 0, stream=split)]
    for index, waveform in enumerate(clips.waveforms):
        start, end = clips.speech_spans[index]
        assert 0.1 <= start <= 0.6 + 1e-3 and end < len(waveform) / 16000
        assert np.abs(waveform).max() <= 1.0
    again = oe.make_other_engine_spoken_clips(4, cache_dir=tmp_path, **kwargs)
    assert isinstance(again.waveforms.audio, np.memmap)
    fresh = oe.make_other_engine_spoken_clips(2, cache_dir=False, **kwargs)
    for a, b in zip(fresh.waveforms, again.waveforms):
        np.testing.assert_array_equal(a, b)
    batch = next(iter(sf.make_dataset(clips, 4)))
    assert batch[0]["waveform"].shape[0] == 4
