"""Tests of the spoken-forms data: grammar, normalisation, CTC classes, eSpeak clips and tf.data."""

import dataclasses
import datetime
import re

import numpy as np
import pytest
from num2words import num2words

from data import spoken_forms as sf
from data import trigger_word as tw

# No babble: its bank is a second synthesis; one test below makes it on purpose.
QUICK_KINDS = ("white", "pink", "hum", "silence")


def reference(text: str) -> str:
    """num2words' spelling in the project's normalisation (commas and hyphens gone)."""
    return sf.normalize_transcript(text)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("spoken_forms_cache")


@pytest.fixture(scope="module")
def clips(cache_dir):
    return sf.make_spoken_clips("test", 5, seed=0, cache_dir=cache_dir, background_kinds=QUICK_KINDS,
                                verbose=False)


# -- numbers ---------------------------------------------------------------------

def test_cardinals_match_num2words():
    # Every number below 1,100 (all the words and joins), then a stride through the rest.
    numbers = list(range(0, 1100)) + list(range(1100, 1_000_000, 1777)) + [
        2000, 2001, 2010, 10_010, 100_000, 100_001, 101_101, 999_999]
    for n in numbers:
        assert sf.cardinal_words(n) == reference(num2words(n)), n
        # American style: the same words without "and".
        assert sf.cardinal_words(n, use_and=False) == re.sub(r" and\b", "", reference(num2words(n)))
    with pytest.raises(ValueError, match="999,999"):
        sf.cardinal_words(1_000_000)


def test_ordinals_and_years_match_num2words():
    for n in range(1, 100):
        assert sf.ordinal_words(n) == reference(num2words(n, to="ordinal"))
    for year in range(1100, 2100):
        assert sf.year_words(year) == reference(num2words(year, to="year")), year
    assert sf.year_words(2024, "thousand") == "two thousand and twenty four"
    assert sf.year_words(2001, "thousand_no_and") == "two thousand one"
    with pytest.raises(ValueError, match="2000-2099"):
        sf.year_words(1979, "thousand")
    assert sf.digit_words("7420", "oh") == "seven four two oh"
    assert sf.digit_words("7420", "zero") == "seven four two zero"


# -- grammar -----------------------------------------------------------------------

WORD_DIGITS = {word: str(i) for i, word in enumerate(sf.grammar.ONES[:10])} | {"oh": "0"}
MONTH_NUMBER = {name: i + 1 for i, name in enumerate(sf.MONTHS)}


@pytest.fixture(scope="module")
def utterances():
    return sf.generate_utterances(3000, seed=0)


def test_utterances_are_normalised_in_the_vocabulary_and_cover_every_category(utterances):
    vocabulary = sf.vocabulary()
    for utterance in utterances:
        assert sf.normalize_transcript(utterance.text) == utterance.text
        assert set(utterance.text.split()) <= vocabulary, utterance.text
    categories = {u.category for u in utterances}
    assert categories == set(sf.CATEGORIES)
    # Few repeats: single-digit numbers, "noon", "midnight" and the like.
    assert len({u.text for u in utterances}) > 0.8 * len(utterances)
    for needle in ("quarter past", "half past", "o clock", "noon", "midnight", "p m", "a m",
                   "in the evening", " oh ", "zero", "hundred and", "thousand and", "nineteen oh",
                   "the twenty", "of ", "at ", "on "):
        assert any(needle in f" {u.text} " for u in utterances), needle


def test_digits_and_cardinals_mean_their_numbers(utterances):
    for utterance in utterances:
        if utterance.category == "digits":
            assert "".join(WORD_DIGITS[w] if w != "zero" else "0"
                           for w in utterance.text.split()) == utterance.number
        elif utterance.category == "cardinal":
            spelled = reference(num2words(int(utterance.number)))
            assert utterance.text in (spelled, re.sub(r" and\b", "", spelled)), utterance


def test_dates_are_real_and_weekdays_agree_with_their_year(utterances):
    dated = [u for u in utterances if u.date_iso]
    assert len(dated) > 300
    num_weekdays = 0
    for utterance in dated:
        words = utterance.text.split()
        months = [w for w in words if w in MONTH_NUMBER]
        assert len(months) == 1, utterance
        if len(utterance.date_iso) == 7:  # month and year
            year, month = map(int, utterance.date_iso.split("-"))
            assert MONTH_NUMBER[months[0]] == month
            continue
        date = datetime.date.fromisoformat(utterance.date_iso)
        assert MONTH_NUMBER[months[0]] == date.month
        assert sf.ordinal_words(date.day) in utterance.text or \
            f"{months[0]} {sf.cardinal_words(date.day)}" in utterance.text
        year_forms = {reference(num2words(date.year, to="year")),
                      reference(num2words(date.year))}
        year_forms.add(re.sub(r" and\b", "", reference(num2words(date.year))))
        assert any(utterance.text.endswith(form) or f"{form} at " in utterance.text
                   for form in year_forms), utterance
        weekdays = [w for w in words if w in sf.WEEKDAYS]
        if weekdays:
            num_weekdays += 1
            assert weekdays == [date.strftime("%A").lower()], utterance
    assert num_weekdays > 20
    # Without a year there is no ISO date; with one there always is.
    year_forms = {sf.year_words(y, style) for y in range(sf.grammar.YEARS[0], sf.grammar.YEARS[1] + 1)
                  for style in sf.grammar.YEAR_STYLES if style == "pairs" or y >= 2000}
    undated = [u for u in utterances if u.category == "date" and not u.date_iso]
    assert len(undated) > 100
    for utterance in undated:
        assert not any(utterance.text.endswith(" " + form) for form in year_forms), utterance
    assert any(re.fullmatch(r"\w+day the \w+( \w+)?", u.text) for u in undated)


def test_times_mean_what_they_say(utterances):
    timed = [u for u in utterances if u.time]
    assert len(timed) > 300
    for utterance in timed:
        text, (hour, minute) = utterance.text, map(int, utterance.time.split(":"))
        assert 0 <= hour < 24 and 0 <= minute < 60
        if re.search(r"\bp m\b|in the afternoon|in the evening|at night", text):
            assert hour >= 12, utterance
        if re.search(r"\ba m\b|in the morning", text):
            assert hour < 12, utterance
        if "midnight" in text:
            assert (hour, minute) == (0, 0)
        if re.search(r"\bnoon|midday", text):
            assert (hour, minute) == (12, 0)
        if "quarter past" in text or "half past" in text or "quarter to" in text:
            assert minute == {"quarter past": 15, "half past": 30, "quarter to": 45}[
                re.search(r"quarter past|half past|quarter to", text).group(0)]
        match = re.search(r"(?:past|to) (\w+)", text)
        if match:
            said = sf.grammar.ONES.index(match.group(1))
            clock = said if " past " in f" {text} " else said - 1
            assert hour % 12 == clock % 12, utterance
        if "o clock" in text:
            assert minute == 0


def test_generation_is_seeded_and_prefix_stable():
    assert sf.generate_utterances(50, seed=3) == sf.generate_utterances(50, seed=3)
    assert sf.generate_utterances(20, seed=3) == sf.generate_utterances(50, seed=3)[:20]
    assert sf.generate_utterances(50, seed=3) != sf.generate_utterances(50, seed=4)
    assert sf.generate_utterances(50, seed=3, stream=1) != sf.generate_utterances(50, seed=3)
    only = sf.generate_utterances(40, seed=0, categories=("time",))
    assert {u.category for u in only} == {"time"} and all(u.time for u in only)
    with pytest.raises(ValueError, match="categories"):
        sf.generate_utterances(3, categories=("poetry",))


# -- normalisation and CTC classes ---------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("Ten O'Clock", "ten o clock"),
    ("ten o’clock", "ten o clock"),
    ("ten oclock", "ten o clock"),
    ("Twenty-Five", "twenty five"),
    ("seven A.M.", "seven a m"),
    ("seven a. m.", "seven a m"),
    ("seven am", "seven a m"),
    ("seven pm", "seven p m"),
    ("seven p.m", "seven p m"),
    ("I am late", "i am late"),
    ("  the  third,   of March!  ", "the third of march"),
    ("don't", "dont"),
    ("", ""),
])
def test_normalisation_cases(text, expected):
    assert sf.normalize_transcript(text) == expected


def test_digits_are_refused_or_spelled():
    with pytest.raises(ValueError, match="digits"):
        sf.normalize_transcript("call 911")
    assert sf.normalize_transcript("At 5pm, 125 people", spell_digits=True) == \
        "at five p m one hundred and twenty five people"
    assert sf.normalize_transcript("007", spell_digits=True) == "zero zero seven"


def test_encode_decode_round_trip_and_the_class_convention():
    assert sf.NUM_CLASSES == 28 and sf.ALPHABET == " abcdefghijklmnopqrstuvwxyz"
    ids = sf.encode_transcript("Ten O'Clock")
    assert ids.dtype == np.int32
    assert ids.tolist()[:4] == [21, 6, 15, 1]  # t e n space: class i is ALPHABET[i - 1]
    assert sf.decode_ids(ids) == "ten o clock"
    assert sf.decode_ids([0, 21, 0, 0, 6, 15, 0]) == "ten"  # blanks dropped, nothing collapsed
    assert sf.decode_ids([3, 3]) == "bb"
    for utterance in sf.generate_utterances(200, seed=1):
        encoded = sf.encode_transcript(utterance.text)
        assert encoded.min() >= 1 and encoded.max() <= 27
        assert sf.decode_ids(encoded) == utterance.text
    with pytest.raises(ValueError, match="0..27"):
        sf.decode_ids([28])


# -- clips -----------------------------------------------------------------------------

def test_clips_hold_padded_speech_over_background(clips):
    assert len(clips) == 5 and len(clips.waveforms) == 5
    expected = sf.generate_utterances(5, seed=0, stream=tw.SPLITS.index("test"))
    assert clips.transcripts == [u.text for u in expected]
    assert clips.date_iso == [u.date_iso for u in expected]
    for index, waveform in enumerate(clips.waveforms):
        assert waveform.dtype == np.float32 and waveform.ndim == 1
        assert np.abs(waveform).max() <= 1.0
        start, end = clips.speech_spans[index]
        assert 0.1 <= start <= 0.6 + 1e-3 and 0.1 - 1e-3 <= len(waveform) / 16000 - end <= 0.6 + 1e-3
        # Louder during the speech than in the padding before it.
        speech = waveform[int(start * 16000):int(end * 16000)]
        lead = waveform[:int(start * 16000)]
        assert np.sqrt(np.mean(speech ** 2)) > 1.5 * np.sqrt(np.mean(lead ** 2))
        assert clips.backgrounds[index] in QUICK_KINDS
        assert sf.DEFAULT_SNR_DB[0] <= clips.snr_db[index] <= sf.DEFAULT_SNR_DB[1]
    # Longer sentences take longer to say.
    words = [len(t.split()) for t in clips.transcripts]
    assert np.corrcoef(words, clips.num_samples)[0, 1] > 0.5


def test_speakers_come_from_their_split_and_splits_share_no_variant(clips):
    speakers = tw.make_speakers(2, 0)
    variants = {split: {s.variant for s in group} for split, group in speakers.items()}
    assert not variants["train"] & variants["test"]
    assert not variants["validation"] & variants["test"]
    for speaker in clips.speakers:
        assert speaker.variant in variants["test"]
        # Each utterance jitters its speaker's rate and pitch a little.
        bases = [s for s in speakers["test"] if (s.accent, s.variant) == (speaker.accent,
                                                                          speaker.variant)]
        assert any(abs(speaker.pitch - base.pitch) <= 8
                   and 0.85 * base.rate - 1 <= speaker.rate <= 1.15 * base.rate + 1
                   for base in bases), speaker
    with pytest.raises(ValueError, match="training only"):
        sf.make_spoken_clips("test", 1, synthetic_voices=2, cache_dir=False)


def test_cache_hit_returns_identical_audio_and_generation_is_deterministic(clips, cache_dir):
    again = sf.make_spoken_clips("test", 5, seed=0, cache_dir=cache_dir,
                                 background_kinds=QUICK_KINDS, verbose=False)
    assert isinstance(again.waveforms.audio, np.memmap)
    for a, b in zip(clips.waveforms, again.waveforms):
        np.testing.assert_array_equal(a, b)
    options = sf.SpokenClipOptions("test", 5, background_kinds=QUICK_KINDS)
    directory = sf.make_cache(cache_dir).path("clips-test", options)
    assert (directory / "clips.json").exists() and (directory / "audio.npy").exists()
    # Made afresh (no cache), fewer clips: the same first clips, the same audio.
    fresh = sf.make_spoken_clips("test", 3, seed=0, cache_dir=False, background_kinds=QUICK_KINDS,
                                 verbose=False)
    for a, b in zip(fresh.waveforms, clips.waveforms):
        np.testing.assert_array_equal(a, b)
    assert fresh.speakers == clips.speakers[:3]
    assert fresh.transcripts == clips.transcripts[:3]


def test_speech_text_writes_what_the_engines_say_as_people_do():
    assert sf.speech_text("ten o clock a m") == "ten o'clock a.m"
    assert sf.speech_text("call me at five p m on friday") == "call me at five p.m on friday"
    assert sf.speech_text("a quarter to ten") == "a quarter to ten"


def test_speech_is_the_same_whatever_the_number_of_worker_processes(monkeypatch):
    # Chunks of two: three utterances make two child processes, run one or two at a time.
    monkeypatch.setattr(sf.speech, "CHUNK_SIZE", 2)
    speakers = tw.make_speakers(1, 0)["test"][:3]
    texts = ["ten o clock", "seven four two", "the third of march"]
    parallel = list(sf.iter_synthesized_chunks(texts, speakers, workers=2))
    assert [len(chunk) for chunk in parallel] == [2, 1]
    # The second chunk made alone, in one process, is the same audio as made next to the first.
    alone = sf.synthesize_in_fresh_processes(texts[2:], speakers[2:], workers=1)
    np.testing.assert_array_equal(alone[0], parallel[1][0])
    for chunk in parallel:
        assert all(0.3 < len(audio) / 16000 < 2.0 for audio in chunk)
    assert len(parallel[0][0]) != len(parallel[0][1])  # two different utterances
    with pytest.raises(ValueError, match="One speaker per text"):
        sf.synthesize_in_fresh_processes(texts, speakers[:2])


def test_cache_key_changes_with_the_options():
    base = sf.SpokenClipOptions("test", 5)
    keys = {tw.cache_key(base)}
    for change in (dict(num_utterances=6), dict(seed=1), dict(snr_db=(0, 20)),
                   dict(background_kinds=("white",)), dict(padding_seconds=(0, 1)),
                   dict(speakers_per_variant=1), dict(categories=("time",)),
                   dict(split="validation")):
        keys.add(tw.cache_key(dataclasses.replace(base, **change)))
    assert len(keys) == 9
    with pytest.raises(ValueError, match="snr_db"):
        sf.SpokenClipOptions("test", 5, snr_db=(30, 5))
    with pytest.raises(ValueError, match="background_kinds"):
        sf.SpokenClipOptions("test", 5, background_kinds=("rain",))


def test_babble_is_made_of_the_splits_voices_saying_words_outside_the_grammar(tmp_path,
                                                                               monkeypatch):
    assert not set(sf.BABBLE_WORDS) & sf.vocabulary()

    # A smaller bank than the default (fewer words and speakers), to keep the test quick.
    @dataclasses.dataclass(frozen=True)
    class FewBabble(sf.BabbleOptions):
        words: tuple = sf.BABBLE_WORDS[:4]
        num_speakers: int = 2

    monkeypatch.setattr(sf.clips, "BabbleOptions", FewBabble)
    babble = sf.make_spoken_clips("validation", 2, seed=0, cache_dir=tmp_path,
                                  background_kinds=("babble",), verbose=False)
    assert babble.backgrounds == ["babble", "babble"]
    cache = sf.make_cache(tmp_path)
    assert list(tmp_path.glob("babble-validation-*.npz"))
    bank = sf.load_babble_bank(FewBabble("validation", 0, 2, 0), cache)
    validation_variants = {s.variant for s in tw.make_speakers(2, 0)["validation"]}
    assert {s.variant for s in bank.speakers} <= validation_variants
    assert len(bank.speakers) == 2 and bank.negative_words == sf.BABBLE_WORDS[1:4]
    # The bank makes babble, which is speech: its energy varies in time far more than noise's.
    babble_noise = tw.make_background(np.random.default_rng(0), "babble", 5 * 16000, bank)
    white_noise = tw.make_background(np.random.default_rng(0), "white", 5 * 16000, bank)
    for noise, low, high in ((babble_noise, 0.3, np.inf), (white_noise, 0, 0.1)):
        energy = np.sqrt(np.mean(noise.reshape(-1, 320) ** 2, axis=1))
        assert low < energy.std() / energy.mean() < high


# -- tf.data -------------------------------------------------------------------------------

def test_dataset_batches_are_padded_with_their_lengths(clips):
    dataset = sf.make_dataset(clips, batch_size=2)
    assert int(dataset.cardinality()) == 3
    seen = 0
    for features, targets in dataset:
        waveform, num_samples = features["waveform"].numpy(), features["num_samples"].numpy()
        labels, label_length = targets["labels"].numpy(), targets["label_length"].numpy()
        assert waveform.dtype == np.float32 and labels.dtype == np.int32
        assert waveform.shape == (len(num_samples), num_samples.max())
        assert labels.shape == (len(label_length), label_length.max())
        for row in range(len(num_samples)):
            index = seen + row
            np.testing.assert_array_equal(waveform[row, :num_samples[row]], clips.waveforms[index])
            assert not waveform[row, num_samples[row]:].any()
            assert sf.decode_ids(labels[row, :label_length[row]]) == clips.transcripts[index]
            assert not labels[row, label_length[row]:].any()
        seen += len(num_samples)
    assert seen == len(clips)
    padded = next(iter(sf.make_dataset(clips, 5, pad_to_multiple=160)))[0]["waveform"]
    assert padded.shape[1] % 160 == 0
    # A subset shares the audio and keeps each clip's transcript with it.
    subset = clips.subset([3, 1])
    assert subset.transcripts == [clips.transcripts[3], clips.transcripts[1]]
    np.testing.assert_array_equal(subset.waveforms[0], clips.waveforms[3])
    features, targets = next(iter(sf.make_dataset(subset, 2)))
    assert features["num_samples"].numpy().tolist() == [len(clips.waveforms[3]),
                                                        len(clips.waveforms[1])]
    assert sf.decode_ids(targets["labels"][1, :targets["label_length"][1]]) == clips.transcripts[1]


def test_shuffled_batches_cover_every_clip_and_repeat_from_the_seed(clips):
    def epoch(dataset):
        return [sorted(targets["label_length"].numpy().tolist()) + [int(f["num_samples"].numpy().sum())]
                for f, targets in dataset]

    shuffled = sf.make_dataset(clips, 2, shuffle=True, seed=3)
    first = epoch(shuffled)
    total = sum(batch[-1] for batch in first)
    assert total == int(clips.num_samples.sum())
    assert epoch(sf.make_dataset(clips, 2, shuffle=True, seed=3)) == first
    # Bucketing sorts each window by length before cutting it into batches.
    order = sf.dataset._Batches(clips, 2, True, 3, False, 16, 1).batch_order(1)
    assert sorted(np.concatenate(order).tolist()) == list(range(len(clips)))
    for batch in order:
        lengths = clips.num_samples[batch]
        assert list(lengths) == sorted(lengths)


def test_augmentation_changes_the_audio_not_the_labels(clips):
    plain = next(iter(sf.make_dataset(clips, 5)))
    augmented = next(iter(sf.make_dataset(clips, 5, augment=True, seed=1)))
    again = next(iter(sf.make_dataset(clips, 5, augment=True, seed=1)))
    np.testing.assert_array_equal(plain[1]["labels"], augmented[1]["labels"])
    np.testing.assert_array_equal(augmented[0]["waveform"], again[0]["waveform"])
    ratio = augmented[0]["num_samples"].numpy() / plain[0]["num_samples"].numpy()
    assert np.all((ratio > 0.89) & (ratio < 1.12)) and not np.allclose(ratio, 1)
    assert np.abs(augmented[0]["waveform"].numpy()).max() <= 1.0


def test_tfds_builder_tiny(tmp_path, monkeypatch):
    from data.tfds_spoken_forms import SpokenForms

    monkeypatch.setenv("SEQMODELS_CACHE", str(tmp_path / "cache"))
    builder = SpokenForms(config="tiny", data_dir=str(tmp_path / "tfds"))
    builder.download_and_prepare()
    train = list(builder.as_dataset(split="train").as_numpy_iterator())
    assert len(train) == 3
    clips = sf.make_spoken_clips("train", 3, speakers_per_variant=1, synthetic_voices=2,
                                 background_kinds=("white", "pink", "silence"), verbose=False)
    assert sorted(e["transcript"].decode() for e in train) == sorted(clips.transcripts)
    for example in train:
        index = clips.transcripts.index(example["transcript"].decode())
        np.testing.assert_array_equal(example["audio"], clips.waveforms.int16(index))
        assert example["date_iso"].decode() == clips.date_iso[index]
    # The training speakers include generated voice variants; the test split's never do.
    assert {s.variant for s in clips.speakers} <= {
        s.variant for s in tw.make_speakers(1, 0, synthetic_voices=2)["train"]}
    test = list(builder.as_dataset(split="test").as_numpy_iterator())
    assert len(test) == 2
    assert not any(e["speaker"].decode().split("+")[1].startswith(tw.SYNTHETIC_VARIANT_PREFIX)
                   for e in test)
