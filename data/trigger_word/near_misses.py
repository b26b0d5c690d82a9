"""Near-misses of any trigger word, picked from its sounds: no list written by hand.

A detector's false accepts are words that sound like its trigger ("activity"
for "activate"), so training and validation need them as negatives. For a
word of the user's choosing they are picked automatically, the way
openWakeWord and microWakeWord mine adversarial negatives from phonetics:

1. eSpeak NG says the word in IPA phonemes
   (:meth:`EspeakEngine.text_to_phonemes`): "activate" is
   ``æ k t ᵻ v eɪ t``.
2. A large vocabulary gets the same treatment: the most frequent purely
   alphabetic words of GloVe 6B (:func:`data.word_vectors.load_glove`),
   30,000 by default.
3. Each candidate is scored by a phoneme edit distance (:func:`phoneme_distances`):
   substitutions inside a phoneme class (vowel for vowel, stop for stop, ...)
   cost 0.5, other edits 1, and phonemes before or after the aligned part
   cost less (0.5 for the candidate's, 0.75 for the word's), so partial
   overlaps count: "active" and "activity" score 2 against "activate".
4. For a phrase ("hey computer"), phrases with one word swapped for one of
   its own nearest words ("hey commuter") are candidates too, as are the
   phrase's words alone ("computer").
5. Left out: the word itself, its inflections ("activates", "activated"),
   and anything whose phonemes contain the word's whole phoneme sequence
   ("reactivate", or a homophone such as "hay computer"): they *are* the trigger
   to the ear.

The picks are the lowest scores, ties broken by GloVe frequency then
spelling, so they are deterministic; each word's picks and the vocabulary's
phonemes are cached as JSON under the clip cache (``near_misses/``), keyed by
:func:`data.trigger_word.cache.cache_key` of their options. eSpeak NG runs in a
fresh process (one engine per process; see :class:`EspeakEngine`).

Example:

>>> pick_near_misses("activate", count=5)  # doctest: +SKIP
('active', 'activity', ...)
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from data.trigger_word.cache import cache_key, default_cache_dir, write_atomically

DEFAULT_COUNT = 20
DEFAULT_VOCABULARY_SIZE = 30_000
DEFAULT_ACCENT = "en-us"
# Alternatives per word when a phrase's words are swapped one at a time.
PHRASE_ALTERNATIVES = 8

_VOWEL_CHARACTERS = set("aeiouyæɐɑɒɔəɘɚɛɜɝɞɤɨɪʉʊʌʏøœɶᵻ")
_PHONEME_CLASSES = (
    set("pbtdkgɾʔqcɟ") | {"t#", "ʔ"},  # stops and flaps
    set("fvθðszʃʒhxɣçʝɸβ"),  # fricatives
    {"tʃ", "dʒ", "ts", "dz"},  # affricates
    set("mnŋɲɱ") | {"m̩", "n̩"},  # nasals
    set("lɹrwjɫʋɻ") | {"l̩", "ɹ̩"},  # approximants and liquids
)


@dataclasses.dataclass(frozen=True)
class VocabularyOptions:
    """What decides the vocabulary's phonemes, and so their cache entry."""

    vocabulary_size: int = DEFAULT_VOCABULARY_SIZE
    accent: str = DEFAULT_ACCENT

    def __post_init__(self):
        if self.vocabulary_size < 1:
            raise ValueError(f"vocabulary_size must be >= 1; received {self.vocabulary_size}")


@dataclasses.dataclass(frozen=True)
class NearMissOptions:
    """What decides one word's picks, and so their cache entry."""

    word: str
    vocabulary: VocabularyOptions = VocabularyOptions()
    count: int = DEFAULT_COUNT

    def __post_init__(self):
        if not self.word.strip():
            raise ValueError("The trigger word must be non-empty text")
        if self.count < 1:
            raise ValueError(f"count must be >= 1; received {self.count}")


# --------------------------------------------------------------------------- vocabulary


def glove_vocabulary(size: int = DEFAULT_VOCABULARY_SIZE) -> list[str]:
    """The ``size`` most frequent GloVe 6B words made of ASCII letters only (at least two)."""
    from data.word_vectors import load_glove

    words = load_glove(limit=max(4 * size, 1000)).words
    picked = [w for w in words if len(w) >= 2 and w.isascii() and w.isalpha()]
    return picked[:size]


def phonemize_in_fresh_process(texts, accent: str = DEFAULT_ACCENT) -> list[list[str]]:
    """:meth:`EspeakEngine.text_to_phonemes` of every text, in a new process with its own engine."""
    root = str(Path(__file__).resolve().parents[2])
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [root] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    result = subprocess.run(
        [sys.executable, "-c", "from data.trigger_word.near_misses import _worker; _worker()"],
        input=json.dumps({"texts": list(texts), "accent": accent}), text=True,
        capture_output=True, env=environment, cwd=root)
    if result.returncode != 0:
        raise RuntimeError(f"eSpeak NG phonemisation failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout)


def _worker():
    """Entry point of the child process: request JSON on stdin, phonemes JSON on stdout."""
    from data.trigger_word.speech_engine import EspeakEngine

    request = json.loads(sys.stdin.read())
    engine = EspeakEngine()
    print(json.dumps([engine.text_to_phonemes(t, request["accent"]) for t in request["texts"]]))


def _cache_path(cache_dir, name: str, options) -> Path | None:
    if cache_dir is False:
        return None
    directory = Path(cache_dir) if cache_dir else default_cache_dir()
    return directory / "near_misses" / f"{name}-{cache_key(options)}.json"


def _read_or_make(path: Path | None, make):
    if path is not None and path.exists():
        return json.loads(path.read_text())
    value = make()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, lambda temporary: temporary.write_text(json.dumps(value)))
    return value


def vocabulary_phonemes(options: VocabularyOptions = VocabularyOptions(), cache_dir=None):
    """(words, phonemes per word) of the GloVe vocabulary, cached.

    ``cache_dir`` as in :class:`data.trigger_word.ClipCache` (``False``: no cache).
    """
    def make():
        words = glove_vocabulary(options.vocabulary_size)
        return {"words": words, "phonemes": phonemize_in_fresh_process(words, options.accent)}

    table = _read_or_make(_cache_path(cache_dir, "vocabulary", options), make)
    return table["words"], table["phonemes"]


# --------------------------------------------------------------------------- distance


def _phoneme_class(phoneme: str, own: int) -> int:
    """0 for vowels, 1.. for the consonant classes, else ``own`` (a class of its own)."""
    if phoneme[0] in _VOWEL_CHARACTERS:
        return 0
    for index, members in enumerate(_PHONEME_CLASSES):
        if phoneme in members or phoneme[0] in members:
            return index + 1
    return own


def phoneme_distances(word, candidates) -> np.ndarray:
    """Edit distance of the phoneme sequence ``word`` to each sequence in ``candidates``.

    Substituting a phoneme costs 0 when equal, 0.5 within a class (vowels,
    stops, fricatives, affricates, nasals, approximants), else 1; inserting or
    deleting one costs 1 inside the alignment; before or after it (a
    semi-global alignment) a candidate's extra phoneme costs 0.5 and a word's
    phoneme left out 0.75, so a candidate that overlaps most of the word, or
    holds it with extra sounds around, stays close, while a short word that
    matches only a syllable does not.

    Returns:
        float32 ``(len(candidates),)``.
    """
    word = list(word)
    if not word:
        raise ValueError("The word has no phonemes")
    alphabet = sorted(set(word) | {p for c in candidates for p in c})
    ids = {p: i for i, p in enumerate(alphabet)}
    classes = np.array([_phoneme_class(p, -1 - i) for i, p in enumerate(alphabet)])
    substitution = np.where(classes[:, None] == classes[None, :], 0.5, 1.0).astype(np.float32)
    np.fill_diagonal(substitution, 0.0)
    lengths = np.array([len(c) for c in candidates], np.int64)
    width = int(lengths.max(initial=0))
    # Candidates padded with -1 (never equal to a phoneme): (num_candidates, width).
    padded = np.full((len(candidates), width), -1, np.int64)
    for row, candidate in enumerate(candidates):
        padded[row, :len(candidate)] = [ids[p] for p in candidate]
    word_ids = [ids[p] for p in word]
    extra_gap, missing_gap = 0.5, 0.75  # outside the alignment: candidate's, word's phonemes
    # previous[:, j]: cost of word[:i] against candidate[:j]; row i = 0 skips j leading phonemes.
    previous = np.tile(extra_gap * np.arange(width + 1, dtype=np.float32), (len(candidates), 1))
    best_ending = np.full(len(candidates), np.inf, np.float32)
    rows = np.arange(len(candidates))

    def close_candidate(costs, i):
        # The candidate used up: the word's remaining len(word) - i phonemes are trailing gaps.
        return costs[rows, lengths] + missing_gap * (len(word) - i)

    best_ending = np.minimum(best_ending, close_candidate(previous, 0))
    for i, phoneme in enumerate(word_ids, start=1):
        current = np.empty_like(previous)
        current[:, 0] = missing_gap * i
        sub_costs = np.where(padded >= 0, substitution[phoneme][np.maximum(padded, 0)], np.inf)
        for j in range(1, width + 1):
            current[:, j] = np.minimum.reduce([previous[:, j - 1] + sub_costs[:, j - 1],
                                               previous[:, j] + 1.0, current[:, j - 1] + 1.0])
        best_ending = np.minimum(best_ending, close_candidate(current, i))
        previous = current
    # The word used up: the candidate's phonemes after position j are trailing gaps.
    columns = np.arange(width + 1)
    trailing = previous + extra_gap * (lengths[:, None] - columns[None, :])
    trailing = np.where(columns[None, :] <= lengths[:, None], trailing, np.inf)
    return np.minimum(best_ending, trailing.min(axis=1)).astype(np.float32)


def phoneme_distance(a, b) -> float:
    """:func:`phoneme_distances` of one pair."""
    return float(phoneme_distances(a, [b])[0])


# --------------------------------------------------------------------------- picking


def inflections(word: str) -> set[str]:
    """Spellings that inflect the last word of ``word`` ("activates", "activating", ...)."""
    *head, last = word.lower().split()
    stems = {last}
    if last.endswith("e"):
        stems.add(last[:-1])
    if last.endswith("y"):
        stems.add(last[:-1] + "i")
    suffixes = ("s", "es", "d", "ed", "ing", "er", "ers", "'s", "ly")
    forms = {stem + suffix for stem in stems for suffix in suffixes} - {last}
    if len(last) >= 3:  # Doubled final consonants: "stop" -> "stopped".
        forms |= {last + last[-1] + suffix for suffix in ("ed", "ing", "er")}
    return {" ".join(head + [form]) for form in forms}


# Sounds an ear takes for one another inside a word: American English flaps a t or d
# between vowels ("activated" says æ k t ᵻ v eɪ ɾ ᵻ d), and unstressed ɪ reduces to ᵻ.
_SAME_TO_THE_EAR = {"ɾ": "t", "ᵻ": "ɪ"}


def _contains(sequence, part) -> bool:
    """Whether ``part`` occurs in ``sequence`` as a contiguous run, flaps and reduced vowels aside."""
    sequence = [_SAME_TO_THE_EAR.get(p, p) for p in sequence]
    part = [_SAME_TO_THE_EAR.get(p, p) for p in part]
    length = len(part)
    return any(sequence[s:s + length] == part for s in range(len(sequence) - length + 1))


def rank_near_misses(word: str, word_phonemes, candidates, candidate_phonemes, count=DEFAULT_COUNT):
    """The ``count`` closest candidates to ``word`` that are neither it nor hold its sounds.

    ``candidates`` are ordered by preference for ties (most frequent first).

    Returns:
        list of ``(candidate, distance)``, closest first.
    """
    word_phonemes = list(word_phonemes)
    excluded = {word.lower()} | inflections(word)
    keep = [index for index, (text, phonemes) in enumerate(zip(candidates, candidate_phonemes))
            if phonemes and text.lower() not in excluded
            and not _contains(list(phonemes), word_phonemes)]
    distances = phoneme_distances(word_phonemes, [candidate_phonemes[i] for i in keep])
    order = sorted(range(len(keep)), key=lambda k: (float(distances[k]), keep[k], candidates[keep[k]]))
    picked, sounds, forms = [], set(), set()
    for k in order:
        text, sound = candidates[keep[k]], tuple(candidate_phonemes[keep[k]])
        # Another spelling of a sound already picked, or an inflection of a pick, adds little.
        if sound in sounds or text.lower() in forms:
            continue
        sounds.add(sound)
        forms |= inflections(text)
        picked.append((text, float(distances[k])))
        if len(picked) == count:
            break
    return picked


def near_miss_table(word: str, count: int = DEFAULT_COUNT,
                    vocabulary_size: int = DEFAULT_VOCABULARY_SIZE,
                    accent: str = DEFAULT_ACCENT, cache_dir=None) -> list[tuple[str, float]]:
    """``(near-miss, phoneme distance)`` pairs for ``word``, closest first, cached.

    ``cache_dir`` as in :class:`data.trigger_word.ClipCache` (``False``: no cache).
    """
    options = NearMissOptions(word.strip(), VocabularyOptions(vocabulary_size, accent), count)

    def make():
        words, phonemes = vocabulary_phonemes(options.vocabulary, cache_dir)
        parts = options.word.lower().split()
        spoken = phonemize_in_fresh_process([options.word] + parts, accent)
        word_phonemes, part_phonemes = spoken[0], spoken[1:]
        candidates, candidate_phonemes = list(words), list(phonemes)
        if len(parts) > 1:
            # Phrases with one word swapped for one of its own near-misses come first on ties.
            swapped, swapped_phonemes = [], []
            for position, (part, sounds) in enumerate(zip(parts, part_phonemes)):
                for alternative, _ in rank_near_misses(part, sounds, words, phonemes,
                                                       PHRASE_ALTERNATIVES):
                    swapped.append(" ".join(parts[:position] + [alternative] + parts[position + 1:]))
                    swapped_phonemes.append(
                        [p for k, s in enumerate(part_phonemes) for p in
                         (phonemes[words.index(alternative)] if k == position else s)])
            candidates, candidate_phonemes = swapped + candidates, swapped_phonemes + candidate_phonemes
        return rank_near_misses(options.word, word_phonemes, candidates, candidate_phonemes,
                                options.count)

    name = "picks-" + options.word.replace(" ", "_")[:20]
    return [tuple(pair) for pair in _read_or_make(_cache_path(cache_dir, name, options), make)]


def pick_near_misses(word: str, count: int = DEFAULT_COUNT,
                     vocabulary_size: int = DEFAULT_VOCABULARY_SIZE,
                     accent: str = DEFAULT_ACCENT, cache_dir=None) -> tuple[str, ...]:
    """The ``count`` near-misses of ``word`` (see the module docstring), closest first."""
    return tuple(text for text, _ in near_miss_table(word, count, vocabulary_size, accent, cache_dir))


def negative_words_for(word: str, negative_words=(), auto_near_misses: bool = True,
                       cache_dir=None) -> tuple[str, ...]:
    """The negative words a training run uses for ``word``.

    Given ``negative_words`` win. Otherwise the default word keeps the
    hand-written ``NEGATIVE_WORDS`` (the measured figures use them); any other
    word gets its picked near-misses followed by the ordinary ``OTHER_WORDS``,
    unless ``auto_near_misses`` is off (then ``NEGATIVE_WORDS``, whose
    near-misses are "activate"'s).
    """
    from data.trigger_word.word_bank import DEFAULT_WORD, NEGATIVE_WORDS, OTHER_WORDS

    if negative_words:
        return tuple(negative_words)
    if word.strip().lower() == DEFAULT_WORD or not auto_near_misses:
        return NEGATIVE_WORDS
    picks = pick_near_misses(word, cache_dir=cache_dir if cache_dir else None)
    # A phrase's words said alone ("computer" for "hey computer") stay negatives: they are not the phrase.
    return picks + tuple(w for w in OTHER_WORDS if w != word.strip().lower() and w not in picks)
