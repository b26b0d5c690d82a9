"""Tests of the trigger-word robustness data: augmentation, rooms, sentences, scenes, other engines."""

import shutil

import numpy as np
import pytest
from scipy.signal import freqz

from data.trigger_word import SAMPLE_RATE, WordBank
from data.trigger_word import augment
from data.trigger_word import rooms
from data.trigger_word.augment import AugmentOptions
from data.trigger_word.cache import ClipCache
from data.trigger_word.scenes import SceneOptions, SceneResources, make_scene_clip
from data.trigger_word.sentences import SentenceBank, SpokenText, continuous_speech, trigger_pattern
from data.trigger_word.soundscapes import HOUSEHOLD_KINDS, household_noise, music_like


def tone(frequency, seconds, amplitude=0.5):
    time = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (amplitude * np.sin(2 * np.pi * frequency * time)).astype(np.float32)


def peak_frequency(audio):
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    return np.argmax(spectrum) * SAMPLE_RATE / len(audio)


def band_energy(audio, low, high):
    spectrum = np.abs(np.fft.rfft(audio)) ** 2
    frequencies = np.fft.rfftfreq(len(audio), 1 / SAMPLE_RATE)
    return spectrum[(frequencies >= low) & (frequencies < high)].sum()


# --------------------------------------------------------------------------- augmentation


def test_speed_pitch_and_stretch_move_the_frequency_and_length_they_should():
    audio = tone(200, 1.0)
    faster = augment.change_speed(audio, 1.1)
    assert abs(len(faster) - len(audio) / 1.1) <= 2
    assert peak_frequency(faster) == pytest.approx(220, rel=0.01)
    stretched = augment.time_stretch(audio, 0.8)
    assert len(stretched) == round(len(audio) / 0.8)
    assert peak_frequency(stretched) == pytest.approx(200, rel=0.01)
    for semitones in (-3, 2.5):
        shifted = augment.shift_pitch(audio, semitones)
        assert abs(len(shifted) - len(audio)) <= 20
        assert peak_frequency(shifted) == pytest.approx(200 * 2 ** (semitones / 12), rel=0.015)


def test_biquads_have_the_cookbook_gains():
    for kind, frequency, probe in (("peak", 1000, 1000), ("lowshelf", 300, 30), ("highshelf", 3000, 7500)):
        b, a = augment.biquad(kind, frequency, gain_db=9.0, q=1.0)
        _, response = freqz(b, a, [probe], fs=SAMPLE_RATE)
        assert 20 * np.log10(abs(response[0])) == pytest.approx(9.0, abs=0.6), kind
        # Far from the filter's band the gain is 0 dB.
        far = {"peak": 7000, "lowshelf": 7000, "highshelf": 30}[kind]
        _, response = freqz(b, a, [far], fs=SAMPLE_RATE)
        assert abs(20 * np.log10(abs(response[0]))) < 1.0, kind
    with pytest.raises(ValueError, match="kind"):
        augment.biquad("notch", 1000)


def test_band_limits_codec_and_downsampling():
    inside, below, above = tone(1000, 0.5), tone(100, 0.5), tone(5000, 0.5)
    passed = augment.band_limit(inside + below + above)  # telephone band
    assert band_energy(passed, 900, 1100) > 100 * band_energy(passed, 50, 150)
    assert band_energy(passed, 900, 1100) > 100 * band_energy(passed, 4900, 5100)
    quantised = augment.mu_law(inside, bits=8)
    assert len(np.unique(quantised)) <= 256
    # Mu-law keeps the relative error roughly constant: a few percent at 8 bits.
    assert np.max(np.abs(quantised - inside)) < 0.03
    low = augment.downsample_upsample(tone(1000, 0.5) + tone(6000, 0.5), 8000)
    assert len(low) == int(0.5 * SAMPLE_RATE)
    assert band_energy(low, 5900, 6100) < 1e-3 * band_energy(low, 900, 1100)
    clipped = augment.hard_clip(inside, 0.5)
    assert np.max(np.abs(clipped)) == pytest.approx(0.25, rel=1e-3)


def test_augmentation_is_deterministic_and_options_are_validated():
    audio = tone(300, 0.6) + tone(1200, 0.6, 0.2)
    options = AugmentOptions(speed_probability=1.0, pitch_probability=1.0, equalizer_probability=1.0,
                             channel_probability=1.0)
    first = augment.augment_speech(np.random.default_rng(3), audio, options)
    second = augment.augment_speech(np.random.default_rng(3), audio, options)
    np.testing.assert_array_equal(first[0], second[0])
    assert 0.85 <= first[1] <= 1.15 and len(first[0]) != len(audio)
    channel = augment.augment_channel(np.random.default_rng(4), audio, options)
    assert np.max(np.abs(channel)) == pytest.approx(np.max(np.abs(audio)), rel=1e-4)
    assert not np.allclose(channel, audio)
    untouched = AugmentOptions(0.0, (1.0, 1.0), 0.0, 0.0, 0.0, 0.0)
    same, speed = augment.augment_speech(np.random.default_rng(0), audio, untouched)
    np.testing.assert_array_equal(same, audio)
    assert speed == 1.0
    with pytest.raises(ValueError, match="speed_probability"):
        AugmentOptions(speed_probability=1.5)
    with pytest.raises(ValueError, match="speed_range"):
        AugmentOptions(speed_range=(1.2, 0.9))


# --------------------------------------------------------------------------- rooms


@pytest.fixture(scope="module")
def room_bank(tmp_path_factory):
    cache = ClipCache(tmp_path_factory.mktemp("rooms"))
    options = rooms.RoomOptions(num_rooms=2, seed=5, rt60_range=(0.3, 0.6),
                                max_dimensions=(6.0, 5.0, 3.0))
    return options, cache, rooms.load_room_bank(options, cache)


def test_room_bank_is_deterministic_cached_and_reverberant(room_bank):
    options, cache, bank = room_bank
    assert len(bank) == 2 and cache.path("rooms", options, ".npz").exists()
    again = rooms.load_room_bank(options, cache)  # from the cache file
    for first, second in zip(bank.speech + bank.noise, again.speech + again.noise):
        np.testing.assert_array_equal(first, second)
    for speech, noise, facts in zip(bank.speech, bank.noise, bank.rooms):
        # Speech and noise come from different positions: different responses, one room.
        assert len(speech) != len(noise) or not np.allclose(speech, noise)
        assert facts["speech_distance"] <= options.max_distance
        # The Schroeder decay of the simulated response agrees with the room's RT60 (image
        # order capped, so loosely).
        assert 0.5 * facts["rt60"] < rooms.reverberation_time(speech) < 1.6 * facts["rt60"]
        # The direct sound comes first.
        assert int(np.argmax(np.abs(speech))) <= 8


def test_apply_room_keeps_level_and_timing(room_bank):
    _, _, bank = room_bank
    audio = np.zeros(SAMPLE_RATE, np.float32)
    audio[4000:6000] = tone(500, 2000 / SAMPLE_RATE)
    wet = rooms.apply_room(audio, bank.speech[0])
    assert len(wet) == len(audio) + len(bank.speech[0]) - 1
    assert np.sqrt(np.mean(wet[:len(audio)] ** 2)) == pytest.approx(np.sqrt(np.mean(audio ** 2)), rel=1e-4)
    onset = int(np.argmax(np.abs(wet) > 0.05 * np.abs(wet).max()))
    assert 3990 <= onset <= 4020
    # The tail rings on after the dry sound stopped.
    assert np.abs(wet[6400:7000]).max() > 1e-3
    assert len(rooms.apply_room(audio, bank.noise[0], keep_tail=False)) == len(audio)
    with pytest.raises(ValueError, match="rt60_range"):
        rooms.RoomOptions(rt60_range=(0.9, 0.2))


# --------------------------------------------------------------------------- sentences and scenes


def test_trigger_pattern_finds_the_word_and_its_forms_not_near_misses():
    pattern = trigger_pattern("activate")
    for text in ("activate", "Activated", "activates", "please activating it"):
        assert pattern.search(text), text
    for text in ("activity", "active", "captivate", "reactivate", "motivate"):
        assert not pattern.search(text), text
    assert trigger_pattern("hey computer").search("ok hey  computer now")
    spoken = SpokenText(None, "", [(0.0, 0.2, "please"), (0.2, 0.7, "activate"), (0.7, 0.9, "it")])
    assert spoken.spans_of(pattern) == [(0.2, 0.7)]


def test_espeak_word_times_inside_a_sentence_agree_with_its_prefixes_said_alone():
    from data.trigger_word.sentences import synthesize_texts_in_fresh_process
    from data.trigger_word.voices import Speaker

    speaker = Speaker("en-us", "m3", 50, 50, 160)
    sentence, before, through, alone = synthesize_texts_in_fresh_process(
        [("please activate the lights", speaker), ("please", speaker), ("please activate", speaker),
         ("activate", speaker)])
    (span,) = sentence.spans_of(trigger_pattern("activate"))
    assert [w[2] for w in sentence.words] == ["please", "activate", "the", "lights"]
    # Said alone, the last word of an utterance is lengthened; inside the sentence the word
    # starts no later than "please" alone ends and ends no later than "please activate" does.
    seconds = lambda spoken: len(spoken.audio) / SAMPLE_RATE  # noqa: E731
    assert 0.1 < span[0] <= seconds(before) + 0.02
    assert span[0] + 0.3 < span[1] <= seconds(through) + 0.05
    assert 0.6 * seconds(alone) < span[1] - span[0] < 1.1 * seconds(alone)
    assert span[1] < seconds(sentence) - 0.3  # "the lights" follow


def fake_banks():
    """A word bank and sentence bank of tones: the trigger word is the only 3 kHz sound."""
    word = tone(3000, 0.4)
    bank = WordBank("activate", ("activity", "banana"), ["x"], [[word]],
                    [[tone(500, 0.3), tone(700, 0.3)]])
    sentence = np.concatenate([tone(300, 0.5), word, tone(300, 0.5)])
    positive = SpokenText(sentence, "please activate it", [(0.0, 0.5, "please"), (0.5, 0.9, "activate"),
                                                         (0.9, 1.4, "it")])
    negative = SpokenText(np.concatenate([tone(400, 0.5), tone(600, 0.6)]), "the activity was",
                          [(0.0, 0.5, "the"), (0.5, 1.1, "activity")])
    passages = [SpokenText(tone(250 + 50 * i, 1.5), "passage", []) for i in range(3)]
    sentences = SentenceBank("activate", [positive], [negative], passages)
    return bank, sentences


def test_scene_clips_label_the_word_inside_sentences_after_speed_change():
    bank, sentences = fake_banks()
    resources = SceneResources(None, sentences, [sentences.positives[0].spans_of(trigger_pattern("activate"))])
    speed = 1.25
    options = SceneOptions(room_probability=0.0, sentence_fraction=1.0, negative_sentence_fraction=1.0,
                           speech_background_fraction=0.0, music_fraction=0.0, household_fraction=0.0,
                           augment=AugmentOptions(1.0, (speed, speed), 0.0, 0.0, 0.0, 0.0))
    rng = np.random.default_rng(0)
    found = 0
    for _ in range(6):
        clip, triggers, negatives = make_scene_clip(rng, bank, resources, 10 * SAMPLE_RATE, options)
        for start, end in triggers:
            assert end - start == pytest.approx(0.4 / speed, abs=1e-6)
            # The word's tone, sped up, sits exactly in the labelled span.
            inside = clip[int(start * SAMPLE_RATE) + 80:int(end * SAMPLE_RATE) - 80]
            before = clip[int(start * SAMPLE_RATE) - 3000:int(start * SAMPLE_RATE) - 200]
            assert band_energy(inside, 3600, 3900) > 0.5 * band_energy(inside, 0, 8000)
            assert band_energy(before, 3600, 3900) < 0.05 * band_energy(before, 0, 8000)
            found += 1
        for start, end, word in negatives:
            assert word == "activity" and end - start == pytest.approx(0.6 / speed, abs=1e-6)
    assert found >= 3


def test_scene_clips_in_rooms_over_new_backgrounds_are_deterministic(room_bank):
    _, _, room_bank_ = room_bank
    bank, sentences = fake_banks()
    resources = SceneResources(room_bank_, sentences, [[(0.5, 0.9)]])
    options = SceneOptions(room_probability=1.0, speech_background_fraction=0.4, music_fraction=0.3,
                           household_fraction=0.3)
    first = [make_scene_clip(np.random.default_rng(1), bank, resources, 4 * SAMPLE_RATE, options)
             for _ in range(2)]
    np.testing.assert_array_equal(first[0][0], first[1][0])
    assert first[0][1] == first[1][1]
    assert np.max(np.abs(first[0][0])) < 1.0
    with pytest.raises(ValueError, match="add up"):
        SceneOptions(speech_background_fraction=0.6, music_fraction=0.5)


def test_music_household_and_continuous_speech_backgrounds():
    rng = np.random.default_rng(0)
    music = music_like(rng, 4 * SAMPLE_RATE)
    assert np.std(music) == pytest.approx(1.0, rel=1e-3)
    # Notes are harmonic tones: the spectrum is peaky, far from flat noise.
    spectrum = np.abs(np.fft.rfft(music))
    assert np.max(spectrum) > 20 * np.median(spectrum)
    for kind in HOUSEHOLD_KINDS:
        noise = household_noise(np.random.default_rng(1), 2 * SAMPLE_RATE, kind)
        assert noise.shape == (2 * SAMPLE_RATE,) and np.std(noise) == pytest.approx(1.0, rel=1e-3)
    fan = household_noise(np.random.default_rng(2), 2 * SAMPLE_RATE, "fan")
    assert band_energy(fan, 0, 500) > band_energy(fan, 2000, 8000)
    with pytest.raises(ValueError, match="Unknown household"):
        household_noise(rng, 100, "blender")
    _, sentences = fake_banks()
    speech = continuous_speech(np.random.default_rng(3), 6 * SAMPLE_RATE, sentences.passages, (2, 2))
    # Talkers fill the clip: no second of it is silent.
    seconds = speech[:6 * SAMPLE_RATE].reshape(6, SAMPLE_RATE)
    assert np.all(np.std(seconds, axis=1) > 0.1)


# --------------------------------------------------------------------------- other speech engines


def _installed_voices():
    try:
        from data.trigger_word.held_out_engines import installed_voices

        return installed_voices()
    except ImportError:
        return ()


needs_flite = pytest.mark.skipif("flite/slt" not in _installed_voices(),
                                 reason="flite (with its slt voice) is not installed")


@pytest.fixture(scope="module")
def other_engine_sets(tmp_path_factory):
    from data.trigger_word.held_out_engines import make_held_out_clips

    common = dict(negative_words=("activity", "banana"), voices=("flite/slt", "flite/kal"),
                  cache_dir=tmp_path_factory.mktemp("other_engines"), num_rooms=1, num_passages=1,
                  words_per_voice=2, sentences_per_voice=1, clip_seconds=4.0)
    sets = {kind: make_held_out_clips(kind, 2, **common) for kind in ("words", "sentences", "negatives")}
    return sets, common


@needs_flite
def test_other_engine_sets_have_timed_words_and_cache(other_engine_sets):
    from data.trigger_word.held_out_engines import make_held_out_clips

    sets, common = other_engine_sets
    sentences = sets["sentences"]
    assert sentences.voices == ["flite/slt", "flite/kal"]  # voices take turns
    for kind in ("words", "sentences"):
        assert all(sets[kind].events)  # every positive clip has a trigger word
        for events in sets[kind].events:
            for start, end in events:
                assert 0.25 < end - start < 1.2 and 0 <= start < 4.0
    again = make_held_out_clips("sentences", 2, **common)  # from the cache
    np.testing.assert_array_equal(sentences.waveforms, again.waveforms)
    assert again.events == sentences.events
    negatives = sets["negatives"]
    assert negatives.events == [[], []] and np.abs(negatives.waveforms[0]).max() > 1000


@needs_flite
def test_other_engine_metrics_count_per_voice(other_engine_sets, monkeypatch):
    from data.trigger_word import frame_labels
    from tasks.trigger_word import evaluate

    sets, _ = other_engine_sets
    frames = 100  # 4 s / 40 ms

    def oracle(model, waveforms):  # probabilities that are exactly the labels
        clips = next(c for c in sets.values() if c.waveforms is waveforms)
        return np.stack([frame_labels(e, frames, 0.04) for e in clips.events])

    monkeypatch.setattr(evaluate, "predict", oracle)
    metrics = evaluate.other_engine_metrics(None, evaluate.DecisionRule(0.5), sets)
    assert metrics["recall"] == 1.0 and metrics["false_accepts_per_hour"] == 0.0
    assert metrics["triggers"] == sum(len(e) for k in ("words", "sentences") for e in sets[k].events)
    assert set(metrics["per_voice"]) == {"flite/slt", "flite/kal"}
    assert sum(v["triggers"] for v in metrics["per_voice"].values()) == metrics["triggers"]
    assert metrics["negative_hours"] == pytest.approx(2 * 4.0 / 3600)
    # A detector that never fires finds nothing and accepts nothing falsely.
    monkeypatch.setattr(evaluate, "predict", lambda model, waveforms: np.zeros((len(waveforms), frames)))
    silent = evaluate.other_engine_metrics(None, evaluate.DecisionRule(0.5), sets)
    assert silent["recall"] == 0.0 and silent["triggers"] == metrics["triggers"]
