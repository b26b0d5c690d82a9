"""Tests of the synthetic trigger-word data (eSpeak NG speech, numpy backgrounds)."""

import dataclasses
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from data import trigger_word as tw

# Few negative words keep the word banks (all voices of a split) quick to synthesise.
FEW_NEGATIVES = ("activity", "captivate", "banana")


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("trigger_word_cache")


@pytest.fixture(scope="module")
def engine():
    # eSpeak NG initialises once per process, and other modules' tests (the web app's) may have
    # started it in this worker already.
    return tw.EspeakEngine.for_this_process()


def test_espeak_speaks_trimmed_16khz_audio(engine):
    speaker = tw.Speaker("en-us", "m3", 50, 50, 175)
    audio = engine.synthesize("activate", speaker)
    assert audio.dtype == np.float32
    # "activate" lasts roughly half a second to a second at 175 words per minute.
    assert 0.3 * tw.SAMPLE_RATE < len(audio) < 1.2 * tw.SAMPLE_RATE
    # Trimmed: the first and last 10 ms are within 40 dB of the peak.
    peak = np.abs(audio).max()
    for edge in (audio[:160], audio[-160:]):
        assert np.sqrt(np.mean(edge ** 2)) > peak * 10 ** (-40 / 20) / 4
    # Different voices sound different.
    other = engine.synthesize("activate", tw.Speaker("en-gb-scotland", "f3", 70, 50, 175))
    assert len(other) != len(audio) or not np.allclose(other, audio)


def test_a_second_engine_in_one_process_is_refused(engine):
    with pytest.raises(RuntimeError, match="already initialised"):
        tw.EspeakEngine()
    assert tw.EspeakEngine.for_this_process() is engine
    with pytest.raises(RuntimeError, match="not /elsewhere"):
        tw.EspeakEngine.for_this_process("/elsewhere")


def test_word_banks_are_deterministic_whatever_ran_before(engine):
    speakers = tw.make_speakers(1, 0)["validation"][:2]
    first = tw.build_word_bank_in_fresh_process("activate", speakers, FEW_NEGATIVES, 0)
    # Synthesising other voices in this process must not change the next bank.
    engine.synthesize("hello", tw.Speaker("en-029", "f5", 90, 10, 250))
    second = tw.build_word_bank_in_fresh_process("activate", speakers, FEW_NEGATIVES, 0)
    for a, b in zip(first.triggers + first.negatives, second.triggers + second.negatives):
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)


def test_speakers_split_by_variant_and_deterministic():
    speakers = tw.make_speakers(speakers_per_variant=2, seed=0)
    variants = {split: {s.variant for s in group} for split, group in speakers.items()}
    assert not variants["train"] & variants["test"]
    assert not variants["train"] & variants["validation"]
    assert not variants["validation"] & variants["test"]
    assert len(speakers["train"]) > len(speakers["test"]) >= 20
    assert speakers == tw.make_speakers(speakers_per_variant=2, seed=0)
    assert speakers != tw.make_speakers(speakers_per_variant=2, seed=1)


def test_unknown_voices_and_variants_are_errors_not_espeaks_silent_fallback(engine):
    with pytest.raises(ValueError, match="no voice 'xx-nowhere"):
        engine.synthesize("hello", tw.Speaker("xx-nowhere", "m3", 50, 50, 175))
    with pytest.raises(ValueError, match="no voice variant 'nosuch'"):
        engine.synthesize("hello", tw.Speaker("en-us", "nosuch", 50, 50, 175))
    # A synthetic variant needs the data directory that holds it.
    with pytest.raises(ValueError, match="voice_data_with_variants"):
        engine.synthesize("hello", tw.Speaker("en-us", "seqmodels-0-0", 50, 50, 175))


def test_synthetic_voices_join_training_only_and_leave_other_splits_unchanged():
    plain = tw.make_speakers(speakers_per_variant=2, seed=0)
    more = tw.make_speakers(speakers_per_variant=2, seed=0, synthetic_voices=5)
    assert more["validation"] == plain["validation"] and more["test"] == plain["test"]
    assert more["train"][:len(plain["train"])] == plain["train"]
    extra = more["train"][len(plain["train"]):]
    assert [s.variant for s in extra] == [f"seqmodels-0-{i}" for i in range(5)]
    with pytest.raises(ValueError, match="training only"):
        tw.WordBankOptions("test", synthetic_voices=3)
    with pytest.raises(ValueError, match=">= 0"):
        tw.make_trigger_word_clips("train", 1, synthetic_voices=-1)


def test_random_variants_are_valid_varied_and_deterministic():
    texts = [tw.random_variant(np.random.default_rng([0, 105, i]), f"v{i}") for i in range(200)]
    assert texts[7] == tw.random_variant(np.random.default_rng([0, 105, 7]), "v7")
    assert len(set(t.split("\n", 2)[2] for t in texts)) == 200
    for text in texts:
        lines = text.strip().split("\n")
        assert lines[0] == "language variant"
        keys = [line.split()[0] for line in lines]
        assert keys.count("formant") == 9 and "pitch" in keys and "voicing" in keys
        low, high = map(int, dict(line.split(None, 1) for line in lines)["pitch"].split())
        assert 60 <= low < high
    # Some whisper (breath noise with little voicing), some Klatt, some plain.
    assert sum("breathw" in t for t in texts) > 10
    assert sum("klatt" in t for t in texts) > 10
    assert sum("breath" not in t for t in texts) > 50


def test_synthetic_variants_change_the_voice(tmp_path):
    data_path = tw.voice_data_with_variants(seed=0, synthetic_voices=3, directory=tmp_path)
    speakers = [tw.Speaker("en-us", f"seqmodels-0-{i}", 50, 50, 175) for i in range(3)]
    speakers.append(tw.Speaker("en-us", "m3", 50, 50, 175))
    bank = tw.build_word_bank_in_fresh_process("activate", speakers, ("banana",), 0, data_path)
    takes = [bank.triggers[s][0] for s in range(4)]
    for audio in takes:
        assert 0.25 * tw.SAMPLE_RATE < len(audio) < 1.5 * tw.SAMPLE_RATE
        assert np.sqrt(np.mean(audio ** 2)) > 1e-3
    # Each variant has its own timbre (average log spectrum), unlike the same
    # variant at another rate and pitch take (rms distance ~0.07; between
    # variants 0.5-1.0).
    def log_spectrum(audio):
        frames = audio[: len(audio) // 400 * 400].reshape(-1, 400) * np.hanning(400)
        spectrum = np.log(np.abs(np.fft.rfft(frames, axis=1)).mean(0) + 1e-6)
        return spectrum - spectrum.mean()

    spectra = [log_spectrum(audio) for audio in takes]
    for i in range(4):
        for j in range(i):
            assert np.sqrt(np.mean((spectra[i] - spectra[j]) ** 2)) > 0.3, (i, j)
    same = [log_spectrum(take) for take in bank.triggers[0]]
    assert np.sqrt(np.mean((same[0] - same[1]) ** 2)) < 0.3
    # The copy is made once and reused; variant files are rewritten from the seed.
    assert tw.voice_data_with_variants(seed=0, synthetic_voices=3, directory=tmp_path) == data_path


def test_synthetic_voice_data_is_cached_or_temporary(tmp_path):
    from data.trigger_word.voices import SYNTHETIC_VARIANT_DIR, synthetic_voice_data

    with synthetic_voice_data(0, 0, tmp_path) as data_path:
        assert data_path is None  # shipped voices only: eSpeak's own data
    assert not any(tmp_path.iterdir())
    with synthetic_voice_data(0, 2, tmp_path / "cache") as data_path:
        assert Path(data_path).parent == tmp_path / "cache"
    variants = Path(data_path) / SYNTHETIC_VARIANT_DIR
    assert sorted(p.name for p in variants.iterdir()) == ["0-0", "0-1"]
    with synthetic_voice_data(0, 2, None) as temporary:
        assert (Path(temporary) / SYNTHETIC_VARIANT_DIR / "0-1").read_text() == (variants / "0-1").read_text()
    assert not Path(temporary).exists()  # caching off: the copy goes with the block


def test_frame_labels_by_hand():
    # A trigger ending at 1.0 s labels frames whose end (t + 1) * 0.04 s lies in
    # (1.0, 1.0 + 0.3636]: t + 1 = 26..34, i.e. frames 25..33.
    labels = tw.frame_labels([(0.4, 1.0)], num_frames=250, frame_seconds=0.04)
    assert labels.shape == (250,)
    np.testing.assert_array_equal(np.nonzero(labels)[0], np.arange(25, 34))
    # The course's own grid: 50 of 1375 frames.
    course = tw.frame_labels([(2.0, 3.0)], num_frames=1375, frame_seconds=10 / 1375)
    assert course.sum() == 50
    # A trigger ending at 9.9 s is cut at the clip end: frames ending 9.92, 9.96, 10.0 s.
    assert tw.frame_labels([(9.5, 9.9)], 250, 0.04).sum() == 3


def test_coloured_noise_slopes():
    rng = np.random.default_rng(0)
    n = 2 ** 16
    frequencies = np.fft.rfftfreq(n)

    def band_power(noise, low, high):
        power = np.abs(np.fft.rfft(noise)) ** 2
        return power[(frequencies >= low) & (frequencies < high)].mean()

    for exponent, expected_db in ((0, 0.0), (-1, -3.0), (-2, -6.0), (1, 3.0)):
        noise = tw.coloured_noise(rng, n, exponent)
        assert abs(np.std(noise) - 1) < 1e-3
        # Power per octave step: f ** exponent -> 3 dB per octave per unit exponent.
        ratio_db = 10 * np.log10(band_power(noise, 0.1, 0.11) / band_power(noise, 0.05, 0.055))
        assert abs(ratio_db - expected_db) < 1.0, (exponent, ratio_db)


def test_mains_hum_peaks_at_mains_frequency():
    hum = tw.mains_hum(np.random.default_rng(3), tw.SAMPLE_RATE * 2)
    spectrum = np.abs(np.fft.rfft(hum))
    frequencies = np.fft.rfftfreq(len(hum), 1 / tw.SAMPLE_RATE)
    strongest = frequencies[np.argsort(spectrum)[-3:]]
    assert all(min(abs(f / 50 - round(f / 50)), abs(f / 60 - round(f / 60))) < 1e-6
               for f in strongest), strongest


def test_clips_events_labels_cache_and_determinism(cache):
    kwargs = dict(num_clips=6, seed=0, clip_seconds=4.0, negative_words=FEW_NEGATIVES,
                  speakers_per_variant=1,
                  cache_dir=cache)
    clips = tw.make_trigger_word_clips("test", **kwargs)
    assert clips.waveforms.shape == (6, 64000) and clips.waveforms.dtype == np.int16
    assert sum(len(e) for e in clips.events) >= 1
    for events, negatives in zip(clips.events, clips.negatives):
        spans = sorted([tuple(e) for e in events] + [tuple(n[:2]) for n in negatives])
        for (s1, e1), (s2, _) in zip(spans, spans[1:]):
            assert e1 <= s2, "inserted words overlap"
        assert all(0 <= s < e <= 4.0 for s, e in spans)
        assert all(n[2] in FEW_NEGATIVES for n in negatives)
    # Speech is really there: the trigger span is louder than the clip on average.
    index = next(i for i, e in enumerate(clips.events) if e)
    start, end = clips.events[index][0]
    waveform = clips.waveform(index)
    span = waveform[int(start * 16000):int(end * 16000)]
    assert np.sqrt(np.mean(span ** 2)) > 0.5 * np.sqrt(np.mean(waveform ** 2))
    # Cached: a second call reads the same data back from disk (memory-mapped).
    again = tw.make_trigger_word_clips("test", **kwargs)
    assert isinstance(again.waveforms, np.memmap)
    np.testing.assert_array_equal(again.waveforms, clips.waveforms)
    assert again.events == clips.events
    # Deterministic from the seed without the cache, and a new seed changes it.
    fresh = tw.make_trigger_word_clips("test", **{**kwargs, "cache_dir": False})
    np.testing.assert_array_equal(fresh.waveforms, clips.waveforms)
    other = tw.make_trigger_word_clips("test", **{**kwargs, "seed": 1, "cache_dir": False})
    assert not np.array_equal(other.waveforms, clips.waveforms)


def test_cache_key_changes_with_every_option_that_changes_the_audio(monkeypatch):
    bank = tw.WordBankOptions("train", seed=0, word="activate", speakers_per_variant=2,
                              negative_words=FEW_NEGATIVES, synthetic_voices=0)
    base = tw.ClipOptions(bank, num_clips=4, clip_seconds=3.0, negative_only=False)
    bank_changes = dict(split="validation", seed=1, word="banana", speakers_per_variant=1,
                        negative_words=FEW_NEGATIVES[:2], synthetic_voices=3,
                        extra_near_misses=("actor",), varied_prosody=True)
    from data.trigger_word.scenes import SceneOptions

    clip_changes = dict(num_clips=5, clip_seconds=4.0, negative_only=True, scene=SceneOptions())
    # Every option is tried, so a new one cannot be left out of this test.
    assert set(bank_changes) == {f.name for f in dataclasses.fields(tw.WordBankOptions)}
    assert set(clip_changes) | {"bank"} == {f.name for f in dataclasses.fields(tw.ClipOptions)}
    keys = {tw.cache_key(base)}
    for name, value in bank_changes.items():
        changed = dataclasses.replace(bank, **{name: value})
        assert tw.cache_key(changed) != tw.cache_key(bank), name
        keys.add(tw.cache_key(dataclasses.replace(base, bank=changed)))
    for name, value in clip_changes.items():
        keys.add(tw.cache_key(dataclasses.replace(base, **{name: value})))
    # Every scene option (rooms, sentences, backgrounds, augmentation) is in the key too.
    scene = SceneOptions()
    for changed in (dataclasses.replace(scene, room_probability=0.2),
                    dataclasses.replace(scene, num_passages=7),
                    dataclasses.replace(scene, augment=dataclasses.replace(scene.augment,
                                                                           pitch_probability=0.9))):
        keys.add(tw.cache_key(dataclasses.replace(base, scene=changed)))
    assert len(keys) == 1 + len(bank_changes) + len(clip_changes) + 3
    # Equal options (made afresh, negative words as a list) name the same entry.
    again = tw.ClipOptions(tw.WordBankOptions("train", 0, "activate", 2, list(FEW_NEGATIVES)), 4, 3.0)
    assert tw.cache_key(again) == tw.cache_key(base)
    # A new generator version renames every entry.
    before = tw.cache_key(base), tw.cache_key(bank)
    monkeypatch.setattr("data.trigger_word.cache.GENERATOR_VERSION", tw.GENERATOR_VERSION + 1)
    assert tw.cache_key(base) != before[0] and tw.cache_key(bank) != before[1]


def test_cache_keys_still_find_the_entries_written_by_earlier_versions():
    # The on-disk names: sha1 of the sorted JSON of the version and the options,
    # synthetic_voices only when used.
    def reference(**fields):
        text = json.dumps(dict(version=tw.GENERATOR_VERSION, **fields), sort_keys=True)
        return hashlib.sha1(text.encode()).hexdigest()[:16]

    bank = dict(split="test", seed=3, word="activate", speakers_per_variant=1,
                negative_words=list(FEW_NEGATIVES))
    options = tw.ClipOptions(tw.WordBankOptions(**bank), num_clips=6, clip_seconds=4.0)
    assert tw.cache_key(options.bank) == reference(**bank)
    assert tw.cache_key(options) == reference(**bank, num_clips=6, clip_seconds=4.0,
                                              negative_only=False)
    generated = dict(bank, split="train", synthetic_voices=5)
    assert tw.cache_key(tw.WordBankOptions(**generated)) == reference(**generated)


def test_cache_entries_are_named_by_the_cache_key_and_banks_are_made_once_per_cache(cache, tmp_path):
    kwargs = dict(clip_seconds=3.0, negative_words=FEW_NEGATIVES, speakers_per_variant=1)
    bank_options = tw.WordBankOptions("validation", negative_words=FEW_NEGATIVES,
                                      speakers_per_variant=1)
    # The bank, from (or synthesised into) the module's cache directory under its key.
    bank = tw.load_word_bank(bank_options, tw.ClipCache(cache))
    assert (cache / f"bank-validation-activate-{tw.cache_key(bank_options)}.npz").exists()
    clip_cache = tw.ClipCache(tmp_path)
    clip_cache.word_banks[bank_options] = bank
    clips = tw.make_trigger_word_clips("validation", 2, cache=clip_cache, **kwargs)
    tw.make_trigger_word_clips("validation", 2, negative_only=True, cache=clip_cache, **kwargs)
    # Both calls used the bank the cache object holds (so it was neither read nor written again).
    assert list(clip_cache.word_banks.values()) == [bank]
    names = {p.name for p in tmp_path.iterdir()}
    entries = [tw.ClipOptions(bank_options, 2, 3.0, negative_only) for negative_only in (False, True)]
    # Only the two clip entries, named by their keys: no temporary files are left.
    assert names == {f"validation-activate-{tw.cache_key(options)}" for options in entries}
    # Another cache object reads the same entries back, bit for bit.
    reread = tw.make_trigger_word_clips("validation", 2, cache_dir=tmp_path, **kwargs)
    assert isinstance(reread.waveforms, np.memmap)
    np.testing.assert_array_equal(reread.waveforms, clips.waveforms)
    with pytest.raises(ValueError, match="not both"):
        tw.make_trigger_word_clips("validation", 2, cache=clip_cache, cache_dir=tmp_path, **kwargs)


def test_negative_only_clips_and_any_word(cache, engine):
    negatives = tw.make_trigger_word_clips("validation", 4, clip_seconds=3.0, negative_only=True,
                                           negative_words=FEW_NEGATIVES, speakers_per_variant=1,
                                           cache_dir=cache)
    assert all(not events for events in negatives.events)
    assert all(len(n) >= 1 for n in negatives.negatives)
    # --word: any text; the word is removed from the negatives if listed there.
    bank = tw.build_word_bank(engine, "banana", tw.make_speakers(1, 0)["validation"][:2], FEW_NEGATIVES)
    assert "banana" not in bank.negative_words and len(bank.triggers[0]) == 3


def test_dataset_batches_and_labels(cache):
    clips = tw.make_trigger_word_clips("test", 5, clip_seconds=4.0, negative_words=FEW_NEGATIVES,
                                       speakers_per_variant=1,
                                       cache_dir=cache)
    dataset = tw.make_dataset(clips, num_frames=100, frame_seconds=0.04, batch_size=2)
    batches = list(dataset)
    assert len(batches) == 3 and int(dataset.cardinality()) == 3
    waveforms = np.concatenate([b[0].numpy() for b in batches])
    labels = np.concatenate([b[1].numpy() for b in batches])
    assert waveforms.shape == (5, 64000) and labels.shape == (5, 100)
    np.testing.assert_allclose(waveforms[0], clips.waveform(0))
    for index, events in enumerate(clips.events):
        np.testing.assert_array_equal(labels[index], tw.frame_labels(events, 100, 0.04))


def test_dataset_crops_hold_whole_triggers_with_aligned_labels(cache):
    clips = tw.make_trigger_word_clips("test", 6, clip_seconds=4.0, negative_words=FEW_NEGATIVES,
                                       speakers_per_variant=1, cache_dir=cache)
    dataset = tw.make_dataset(clips, num_frames=100, frame_seconds=0.04, batch_size=6,
                              shuffle=True, crop_seconds=1.6, positive_fraction=1.0)
    full = [tw.frame_labels(events, 100, 0.04) for events in clips.events]
    for epoch in range(2):
        (waveforms, labels), = list(dataset)
        waveforms, labels = waveforms.numpy(), labels.numpy()
        assert waveforms.shape == (6, 25600) and labels.shape == (6, 40)
        for waveform, label in zip(waveforms, labels):
            # Find the crop in its clip: it starts on the 640-sample frame grid.
            found = [(i, s) for i in range(len(clips)) for s in range(0, 64000 - 25600 + 1, 640)
                     if np.array_equal(clips.waveform(i)[s:s + 25600], waveform)]
            assert len(found) == 1
            index, start = found[0]
            frame = start // 640
            kept = [e for e in clips.events[index] if e[0] >= start / 16000]
            expected = tw.frame_labels(kept, 100, 0.04)[frame:frame + 40]
            np.testing.assert_array_equal(label, expected)
            # Wherever the crop's labels are 1 they are 1 in the whole clip too.
            assert np.all(full[index][frame:frame + 40] >= label)
            if any(end + 0.4 < 4.0 for _, end in clips.events[index]):
                assert label.sum() >= 8, "a positive crop holds a whole label window"
    with pytest.raises(ValueError, match="crop_seconds"):
        tw.make_dataset(clips, 100, 0.04, 2, crop_seconds=5.0)


def test_dataset_epochs_differ_and_depend_only_on_seed_and_epoch(cache):
    clips = tw.make_trigger_word_clips("test", 6, clip_seconds=4.0, negative_words=FEW_NEGATIVES,
                                       speakers_per_variant=1, cache_dir=cache)

    def epoch(index, seed=2):
        dataset = tw.make_dataset(clips, 100, 0.04, 3, shuffle=True, seed=seed, crop_seconds=1.6,
                                  epoch=index)
        return np.concatenate([batch[0].numpy() for batch in dataset])

    first = epoch(0)
    # Each epoch redraws the order and the crops, and so does another seed.
    assert not np.array_equal(first, epoch(1))
    assert not np.array_equal(first, epoch(0, seed=3))
    # An epoch is the same whenever and however often it is drawn: in a new dataset, after
    # other iterators (Keras peeks one under a distribution strategy), or fed as a tensor.
    dataset = tw.make_dataset(clips, 100, 0.04, 3, shuffle=True, seed=2, crop_seconds=1.6, epoch=1)
    next(iter(dataset))
    np.testing.assert_array_equal(np.concatenate([batch[0].numpy() for batch in dataset]), epoch(1))
    import tensorflow as tf

    np.testing.assert_array_equal(epoch(tf.constant(0, tf.int64)), first)


def test_near_miss_weights_by_hand_and_in_the_dataset(cache):
    negatives = [(0.10, 0.30, "captivate"), (0.50, 0.70, "hello")]
    # Frames end at 0.04 k s; "captivate" covers frames ending in (0.10, 0.30 + 0.364]: 0.12..0.64.
    weights = tw.near_miss_weights(negatives, 25, 0.04, 5.0)
    expected = np.ones(25, np.float32)
    expected[2:16] = 5.0
    np.testing.assert_array_equal(weights, expected)
    clips = tw.make_trigger_word_clips("test", 5, clip_seconds=4.0, negative_words=FEW_NEGATIVES,
                                       speakers_per_variant=1, cache_dir=cache)
    dataset = tw.make_dataset(clips, num_frames=100, frame_seconds=0.04, batch_size=5,
                              near_miss_weight=3.0)
    (waveforms, labels, weights), = list(dataset)
    for index in range(5):
        np.testing.assert_array_equal(
            weights[index], tw.near_miss_weights(clips.negatives[index], 100, 0.04, 3.0))
    assert any(n[2] in tw.NEAR_MISS_WORDS for c in clips.negatives for n in c)
    assert float(np.max(weights)) == 3.0


def test_invalid_arguments():
    with pytest.raises(ValueError, match="split"):
        tw.make_trigger_word_clips("dev", 1)
    with pytest.raises(ValueError, match="non-empty"):
        tw.make_trigger_word_clips("test", 1, word="  ")
    with pytest.raises(ValueError, match="background"):
        tw.make_background(np.random.default_rng(0), "purple", 100, None)


def test_tfds_builder_tiny(tmp_path):
    from data.tfds_trigger_word import TriggerWord

    builder = TriggerWord(config="tiny", data_dir=str(tmp_path))
    builder.download_and_prepare()
    train = list(builder.as_dataset(split="train").as_numpy_iterator())
    assert len(train) == 4
    example = train[0]
    assert example["audio"].shape == (48000,) and example["label_frames"].shape == (75,)
    for example in train:
        np.testing.assert_array_equal(
            example["label_frames"],
            tw.frame_labels(list(zip(example["trigger_starts"], example["trigger_ends"])), 75, 0.04))
    negatives = list(builder.as_dataset(split="test_negative").as_numpy_iterator())
    assert len(negatives) == 2 and all(len(n["trigger_ends"]) == 0 for n in negatives)


def test_extra_near_misses_are_said_after_the_negatives_and_drawn_as_near_misses():
    from data.trigger_word.scenes import SceneOptions, SceneResources, make_scene_clip
    from data.trigger_word.sentences import negative_texts
    from data.trigger_word.word_bank import with_extra_near_misses

    assert with_extra_near_misses(("activity", "banana"), ("actor", "activity", "actor", "octave")) == (
        "activity", "banana", "actor", "octave")
    options = tw.WordBankOptions("train", negative_words=("activity", "banana"),
                                 extra_near_misses=("actor", "activity"))
    assert options.all_negative_words == ("activity", "banana", "actor")
    # No extra near-misses: the cache key of the options without the field.
    assert tw.cache_key(tw.WordBankOptions("train", negative_words=("activity",))) == tw.cache_key(
        tw.WordBankOptions("train", negative_words=("activity",), extra_near_misses=()))
    assert tw.cache_key(options) != tw.cache_key(dataclasses.replace(options, extra_near_misses=()))

    def bank(extra):
        # Distinct lengths tell the words apart in the clip's negatives.
        audio = [np.full(int(0.2 * (k + 1) * tw.SAMPLE_RATE), 0.1, np.float32) for k in range(3)]
        return tw.WordBank("activate", ("activity", "banana", "actor"), ["x"],
                           [[np.full(4000, 0.1, np.float32)]], [audio], extra)

    plain, mined = bank(()), bank(("actor",))
    assert plain.near_miss_indices() == [0] and mined.near_miss_indices() == [0, 2]
    scene = SceneOptions(room_probability=0.0, sentence_fraction=0.0, negative_sentence_fraction=0.0,
                         speech_background_fraction=0.0, music_fraction=0.0, household_fraction=0.0)
    resources = SceneResources(None, None, [])
    for make in (lambda rng, b: tw.make_clip(rng, b, 10 * tw.SAMPLE_RATE, negative_only=True),
                 lambda rng, b: make_scene_clip(rng, b, resources, 10 * tw.SAMPLE_RATE, scene, True)):
        counts = {}
        for name, word_bank in (("plain", plain), ("mined", mined)):
            rng = np.random.default_rng(0)
            words = [n[2] for _ in range(150) for n in make(rng, word_bank)[2]]
            counts[name] = {w: words.count(w) / len(words) for w in ("activity", "banana", "actor")}
        # Half the negatives come from the near-miss pool: 1/2 + 1/6 for one near-miss of three words,
        # 1/4 + 1/6 each for two; "actor" joins that pool only when it is an extra near-miss.
        assert counts["plain"]["actor"] == pytest.approx(1 / 6, abs=0.05)
        assert counts["mined"]["actor"] == pytest.approx(1 / 4 + 1 / 6, abs=0.06)
        assert counts["plain"]["activity"] == pytest.approx(1 / 2 + 1 / 6, abs=0.06)
    # Negative sentences fill their templates with the extra near-misses too.
    texts = negative_texts(np.random.default_rng(0), "hey computer", ("banana", "commuter", "octave"),
                           200, extra_near_misses=("commuter",))
    assert sum("commuter" in t for t in texts) > 2 * sum("octave" in t for t in texts) > 0


def test_varied_prosody_takes_end_clauses_and_jitter_wider(engine):
    from data.trigger_word.word_bank import CLAUSE_ENDINGS, build_word_bank

    class Recorder:
        def __init__(self):
            self.calls = []

        def synthesize(self, text, speaker):
            self.calls.append((text, speaker))
            return np.zeros(10, np.float32)

    speaker = tw.Speaker("en-us", "m3", 50, 50, 200)
    takes = {}
    for varied in (False, True):
        recorder = Recorder()
        bank = build_word_bank(recorder, "activate", [speaker] * 20, ("banana",), trigger_takes=3,
                               varied_prosody=varied)
        assert len(bank.triggers) == 20 and all(len(t) == 3 for t in bank.triggers)
        takes[varied] = [(t, s) for t, s in recorder.calls if t != "banana"]
        # The negatives are said as before, by the speaker unchanged.
        assert [s for t, s in recorder.calls if t == "banana"] == [speaker] * 20
    plain, varied = takes[False], takes[True]
    assert {t for t, _ in plain} == {"activate"}
    assert all(0.85 * 200 - 1 <= s.rate <= 1.15 * 200 and s.pitch_range == 50 for _, s in plain)
    endings = {t[len("activate"):] for t, _ in varied}
    assert all(t.startswith("activate") for t, _ in varied) and len(endings) >= 4
    assert endings <= set(CLAUSE_ENDINGS)
    rates = [s.rate for _, s in varied]
    assert min(rates) < 0.85 * 200 and max(rates) > 1.15 * 200
    assert len({s.pitch_range for _, s in varied}) > 10
    # eSpeak NG says the word with another melody at a clause's end.
    np.testing.assert_raises(AssertionError, np.testing.assert_allclose,
                             *[engine.synthesize(t, speaker)[:8000] for t in ("activate", "activate?")])
    options = tw.WordBankOptions("train", negative_words=("banana",))
    assert tw.cache_key(options) == tw.cache_key(dataclasses.replace(options, varied_prosody=False))
    assert tw.cache_key(options) != tw.cache_key(dataclasses.replace(options, varied_prosody=True))
