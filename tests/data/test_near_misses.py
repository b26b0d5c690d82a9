"""Tests of the automatic near-misses: phoneme distance, picks for two words, wiring into training."""

import functools
import itertools

import numpy as np
import pytest

from data.trigger_word import NEAR_MISS_WORDS, NEGATIVE_WORDS, OTHER_WORDS
from data.trigger_word import near_misses as nm


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("near_miss_cache")


# --------------------------------------------------------------------------- phonemes


def test_espeak_phonemes_of_words_and_clauses():
    activate, clauses = nm.phonemize_in_fresh_process(["activate", "Hello, world."])
    # eSpeak NG's en-us IPA (stress marks dropped): /ˈæktᵻvˌeɪt/.
    assert activate == ["æ", "k", "t", "ᵻ", "v", "eɪ", "t"]
    # Every clause is read, not only the first one before the comma.
    assert clauses[:4] == ["h", "ə", "l", "oʊ"] and clauses[-2:] == ["l", "d"]


# --------------------------------------------------------------------------- distance


def reference_distance(word, candidate):
    """The same costs by plain recursion over every alignment, memoised (an independent check)."""
    word, candidate = tuple(word), tuple(candidate)
    classes = {p: nm._phoneme_class(p, -1 - i) for i, p in enumerate(sorted(set(word + candidate)))}

    def substitute(a, b):
        return 0.0 if a == b else 0.5 if classes[a] == classes[b] else 1.0

    @functools.lru_cache(maxsize=None)
    def inside(i, j, si, sj):
        # Best cost aligning word[si:i] with candidate[sj:j] end to end (gaps cost 1).
        if i == si and j == sj:
            return 0.0
        options = []
        if i > si and j > sj:
            options.append(inside(i - 1, j - 1, si, sj) + substitute(word[i - 1], candidate[j - 1]))
        if i > si:
            options.append(inside(i - 1, j, si, sj) + 1.0)
        if j > sj:
            options.append(inside(i, j - 1, si, sj) + 1.0)
        return min(options)

    n, m = len(word), len(candidate)
    best = np.inf
    # Choose the aligned stretch of each sequence; what lies outside costs 0.75 (word) or 0.5 (candidate).
    for si, ei in itertools.combinations_with_replacement(range(n + 1), 2):
        for sj, ej in itertools.combinations_with_replacement(range(m + 1), 2):
            outside = 0.75 * (n - (ei - si)) + 0.5 * (m - (ej - sj))
            best = min(best, outside + inside(ei, ej, si, sj))
    return best


def test_phoneme_distance_worked_examples():
    activate = ["æ", "k", "t", "ᵻ", "v", "eɪ", "t"]
    assert nm.phoneme_distance(activate, activate) == 0.0
    # One vowel for another: half a substitution.
    assert nm.phoneme_distance(activate, ["æ", "k", "t", "ɪ", "v", "eɪ", "t"]) == 0.5
    # A stop for a fricative: a whole one.
    assert nm.phoneme_distance(activate, ["æ", "k", "s", "ᵻ", "v", "eɪ", "t"]) == 1.0
    # "act": the word's last four phonemes are left out, 0.75 each.
    assert nm.phoneme_distance(activate, ["æ", "k", "t"]) == 3.0
    # Two extra phonemes in front ("reactivate"): 0.5 each.
    assert nm.phoneme_distance(activate, ["ɹ", "ɪ"] + activate) == 1.0
    # An extra phoneme in the middle costs a whole edit.
    assert nm.phoneme_distance(activate, ["æ", "k", "t", "ᵻ", "ə", "v", "eɪ", "t"]) == 1.0


def test_phoneme_distances_match_an_exhaustive_reference():
    rng = np.random.default_rng(0)
    alphabet = ["a", "ɪ", "eɪ", "t", "k", "d", "s", "m", "l", "x"]
    word = list(rng.choice(alphabet, 5))
    candidates = [list(rng.choice(alphabet, int(rng.integers(1, 7)))) for _ in range(40)]
    distances = nm.phoneme_distances(word, candidates)
    expected = [reference_distance(word, c) for c in candidates]
    np.testing.assert_allclose(distances, expected)
    assert len(set(expected)) > 3, "the test needs distances that vary"
    with pytest.raises(ValueError, match="no phonemes"):
        nm.phoneme_distances([], candidates)


def test_inflections_and_containment_are_left_out():
    assert {"activates", "activated", "activating", "activate's"} <= nm.inflections("activate")
    assert "hey computers" in nm.inflections("hey computer")
    word = ["æ", "k", "t", "ᵻ", "v", "eɪ", "t"]
    candidates = ["activate", "activates", "reactivate", "inactivated", "activity", "active"]
    sounds = [word, word + ["s"], ["ɹ", "ɪ"] + word,
              ["ɪ", "n", "æ", "k", "t", "ᵻ", "v", "eɪ", "ɾ", "ᵻ", "d"],  # the t flapped
              ["æ", "k", "t", "ɪ", "v", "ᵻ", "ɾ", "i"], ["æ", "k", "t", "ɪ", "v"]]
    picked = nm.rank_near_misses("activate", word, candidates, sounds, count=10)
    # Both score 2.0 (see test_phoneme_distance_worked_examples); ties keep the candidates' order.
    assert [text for text, _ in picked] == ["activity", "active"]


# --------------------------------------------------------------------------- picks


def test_activate_picks_share_the_hand_written_near_misses(cache_dir):
    table = nm.near_miss_table("activate", cache_dir=cache_dir)
    picks = [text for text, _ in table]
    assert len(picks) == nm.DEFAULT_COUNT == len(set(picks))
    # The hand-written list was made by ear; an automatic list of 20 should share a good part of it.
    shared = set(picks) & set(NEAR_MISS_WORDS)
    assert len(shared) >= 4, (shared, picks)
    assert {"active", "activity"} <= shared
    assert "activate" not in picks and not set(picks) & nm.inflections("activate")
    assert not any("activat" in text and text != "activation" for text in picks)
    distances = [distance for _, distance in table]
    assert distances == sorted(distances)


def test_hey_computer_picks_are_phonetically_close(cache_dir):
    table = nm.near_miss_table("hey computer", cache_dir=cache_dir)
    picks = [text for text, _ in table]
    assert "hey computer" not in picks and "hey computers" not in picks
    phrase, *sounds = nm.phonemize_in_fresh_process(["hey computer"] + picks)
    assert len(phrase) == 10
    # Recomputed from eSpeak's phonemes of each pick (a phrase's words said together): close,
    # with at most a quarter of the phrase's phonemes edited, and none holding the whole phrase.
    recomputed = nm.phoneme_distances(phrase, sounds)
    assert recomputed.max() <= 2.5, dict(zip(picks, recomputed))
    assert not any(nm._contains(s, phrase) for s in sounds)
    # Ordinary words are far: the picks are not close by chance.
    words, vocabulary_sounds = nm.vocabulary_phonemes(cache_dir=cache_dir)
    assert np.median(nm.phoneme_distances(phrase, vocabulary_sounds[:2000])) > 5.0
    # Both kinds of near-miss: the phrase with a word swapped, and a word of it said alone.
    assert any(" " in text for text in picks) and "computer" in picks


def test_picks_are_deterministic_and_cached(cache_dir, tmp_path):
    first = nm.pick_near_misses("okay jarvis", count=8, vocabulary_size=3000, cache_dir=False)
    second = nm.pick_near_misses("okay jarvis", count=8, vocabulary_size=3000, cache_dir=tmp_path)
    assert first == second and len(first) == 8
    cached = list((tmp_path / "near_misses").glob("picks-okay_jarvis-*.json"))
    assert len(cached) == 1
    assert nm.pick_near_misses("okay jarvis", count=8, vocabulary_size=3000,
                               cache_dir=tmp_path) == first


def test_negative_words_for_training(cache_dir):
    assert nm.negative_words_for("activate") == NEGATIVE_WORDS
    assert nm.negative_words_for("hey computer", ("one", "two")) == ("one", "two")
    assert nm.negative_words_for("hey computer", auto_near_misses=False) == NEGATIVE_WORDS
    words = nm.negative_words_for("hey computer", cache_dir=cache_dir)
    picks = nm.pick_near_misses("hey computer", cache_dir=cache_dir)
    assert words[:len(picks)] == picks and len(words) == len(set(words))
    assert set(words) - set(picks) == set(OTHER_WORDS) - set(picks)


def test_config_declares_auto_near_misses():
    from tasks.trigger_word.config import Config

    field = Config.__dataclass_fields__["auto_near_misses"]
    assert field.default is True and field.metadata["help"]
    assert Config(word="hey computer", auto_near_misses=False).auto_near_misses is False
