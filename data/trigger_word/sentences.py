"""Speech in sentences: the trigger word inside whole sentences, near-miss sentences, continuous speech.

People do not say the trigger word alone between silences: they say
"please activate the lights", and around the microphone others talk. Three
kinds of eSpeak NG speech, each synthesised per split from that split's
speakers (so test voices stay unheard) in a fresh process, like word banks:

* **positive sentences**: templates with the word at the start, the middle
  or the end (:data:`POSITIVE_TEMPLATES`). eSpeak NG's word events
  (:meth:`EspeakEngine.synthesize_words`) time every word, so the label is
  placed where the trigger word ends *inside* the sentence;
* **negative sentences** full of near-misses ("the activity in the kitchen
  was creative"; :data:`NEAR_MISS_SENTENCES`, and templates filled with the
  bank's negative words for any other trigger word), each near-miss word
  timed too, so the near-miss loss weight can find it;
* **passages** read from the project's text corpus (:mod:`data.text_corpus`,
  gensim's Wikipedia sample) with the trigger word's forms left out; several
  talkers at once make a continuous-speech background
  (:func:`continuous_speech`).

A :class:`SentenceBank` holds all three for one split; it is cached as one
``.npz`` named by :func:`data.trigger_word.cache.cache_key` of its
:class:`SentenceOptions`.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
from pathlib import Path

import numpy as np

from data.trigger_word.audio import SAMPLE_RATE
from data.trigger_word.cache import ClipCache, cache_fields, write_atomically
from data.trigger_word.fresh_process import worker_output
from data.trigger_word.voices import SPLITS, Speaker, make_speakers, synthetic_voice_data
from data.trigger_word.word_bank import (DEFAULT_WORD, NEAR_MISS_WORDS, NEGATIVE_WORDS,
                                         with_extra_near_misses)

# {word} is the trigger word, at the start, in the middle or at the end.
POSITIVE_TEMPLATES = (
    "please {word} the lights",
    "we should {word} it tomorrow morning",
    "{word} the alarm now",
    "okay computer, {word}",
    "can you {word} the heating in the kitchen",
    "I want to {word} my account today",
    "hey, {word} the music please",
    "remember to {word} the system before you leave",
    "if it gets dark, {word} the lamp in the hall",
    "the manual says to {word} it twice",
    "just {word}",
    "could you please {word} the camera",
    "they will {word} the new card on monday",
    "press the button and {word} the machine",
    "do not forget to {word} it",
    "{word}, and then wait a moment",
    "it is time to {word}",
    "my sister asked me to {word} the speaker",
)
# For "activate": sentences of its near-misses, as people say them.
NEAR_MISS_SENTENCES = (
    "the activity in the kitchen was creative",
    "he captivated the audience",
    "we went on vacation and had to navigate the river",
    "the activist was very active today",
    "she is a relative of the candidate",
    "they cultivate vegetables in the garden",
    "try to motivate the team to take action",
    "the alligator hid in a cavity under the bank",
    "please elevate the table, the numbers are accurate",
    "his activism was captivating",
    "we need to vacate the room by noon",
    "the captive was actively looking for a way out",
    "that was an innovative and creative idea",
    "the actor gave a relative answer",
    "please turn on the lights in the kitchen",
    "we should call them tomorrow morning",
)
# Templates that put any negative word into a sentence ({near} is the word).
NEGATIVE_TEMPLATES = (
    "the {near} in the kitchen was new",
    "we talked about the {near} all day",
    "please, {near}, not now",
    "she said {near} twice this morning",
    "is that {near} or something else",
    "my friend likes the word {near}",
    "{near} is what he wrote on the paper",
    "they had a {near} before dinner",
)
PASSAGE_WORDS = (12, 30)  # words per passage read from the corpus


def trigger_pattern(word: str) -> re.Pattern:
    """Matches the trigger word and its inflections ("activates", "activated", "activating")."""
    parts = [re.escape(part) for part in word.lower().split()]
    stem = parts[-1][:-1] if len(parts[-1]) > 4 and parts[-1].endswith("e") else parts[-1]
    body = r"\s+".join(parts[:-1] + [stem + r"\w*" if stem != parts[-1] else stem + r"(?:s|es|ed|ing)?"])
    return re.compile(rf"\b{body}\b", re.IGNORECASE)


@dataclasses.dataclass(frozen=True)
class SentenceOptions:
    """Everything that decides one split's sentence bank, and so its cache entry.

    Args:
        split: "train", "validation" or "test".
        seed: fixes speakers (as the word bank's) and the sentence draws.
        word: the trigger word.
        speakers_per_variant, synthetic_voices: the split's speakers, as in
            :class:`data.trigger_word.WordBankOptions`.
        negative_words: fill the negative templates (near-misses first).
        sentences_per_speaker: positive and negative sentences each speaker says.
        num_passages: corpus passages read by the split's speakers.
    """

    split: str
    seed: int = 0
    word: str = DEFAULT_WORD
    speakers_per_variant: int = 2
    synthetic_voices: int = 0
    negative_words: tuple = NEGATIVE_WORDS
    sentences_per_speaker: int = 2
    num_passages: int = 100
    # Left out of the cache key when empty, so banks cached before it existed stay valid.
    extra_near_misses: tuple = dataclasses.field(default=(), metadata={"cache_key_omits": ()})

    def __post_init__(self):
        if self.split not in SPLITS:
            raise ValueError(f"Invalid split {self.split!r}; expected one of {SPLITS}")
        if self.sentences_per_speaker < 0 or self.num_passages < 0:
            raise ValueError(f"sentences_per_speaker and num_passages must be >= 0; received "
                             f"{self.sentences_per_speaker}, {self.num_passages}")
        if self.synthetic_voices and self.split != "train":
            raise ValueError("Synthetic voices are for training only")
        object.__setattr__(self, "negative_words", tuple(self.negative_words))
        object.__setattr__(self, "extra_near_misses", tuple(self.extra_near_misses))

    @property
    def name(self) -> str:
        return f"sentences-{self.split}-{self.word.replace(' ', '_')[:20]}"


@dataclasses.dataclass
class SpokenText:
    """One synthesised utterance, its text, and its word times (start_s, end_s, word)."""

    audio: np.ndarray
    text: str
    words: list

    def spans_of(self, pattern: re.Pattern) -> list:
        """(start_s, end_s) of the words (or consecutive words, for phrases) matching ``pattern``."""
        spans, texts = [], [w[2] for w in self.words]
        length = max(1, len(pattern.pattern.split(r"\s+")))
        for index in range(len(self.words) - length + 1):
            if pattern.fullmatch(" ".join(_bare(t) for t in texts[index:index + length])):
                spans.append((self.words[index][0], self.words[index + length - 1][1]))
        return spans


def _bare(text: str) -> str:
    return re.sub(r"[^\w']", "", text)


@dataclasses.dataclass
class SentenceBank:
    """A split's positive sentences, negative sentences and corpus passages (:class:`SpokenText`)."""

    word: str
    positives: list
    negatives: list
    passages: list

    def save(self, path: Path, extra_meta: dict) -> None:
        groups = (self.positives, self.negatives, self.passages)
        pieces = [item.audio for group in groups for item in group]
        offsets = np.cumsum([0] + [len(a) for a in pieces])
        meta = dict(extra_meta, word=self.word, sizes=[len(g) for g in groups],
                    texts=[[item.text, item.words] for group in groups for item in group])
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, lambda temporary: np.savez(
            temporary, audio=(np.concatenate(pieces) if pieces else np.zeros(0)).astype(np.float16),
            offsets=offsets, meta=np.array(json.dumps(meta))))

    @classmethod
    def load(cls, path: Path) -> "SentenceBank":
        stored = np.load(path, allow_pickle=False)
        meta = json.loads(str(stored["meta"]))
        audio, offsets = stored["audio"].astype(np.float32), stored["offsets"]
        items = [SpokenText(audio[offsets[i]:offsets[i + 1]], text, [tuple(w) for w in words])
                 for i, (text, words) in enumerate(meta["texts"])]
        a, b, _ = meta["sizes"]
        return cls(meta["word"], items[:a], items[a:a + b], items[a + b:])


def positive_texts(rng: np.random.Generator, word: str, count: int) -> list[str]:
    return [POSITIVE_TEMPLATES[int(i)].format(word=word)
            for i in rng.integers(len(POSITIVE_TEMPLATES), size=count)]


def negative_texts(rng: np.random.Generator, word: str, negative_words, count: int,
                   extra_near_misses=()) -> list[str]:
    """Near-miss sentences: the hand-written ones for "activate", templates of the negatives for any word.

    ``extra_near_misses`` (already among ``negative_words``) fill the templates
    as near-misses, beside ``NEAR_MISS_WORDS``.
    """
    pattern = trigger_pattern(word)
    fixed = [s for s in NEAR_MISS_SENTENCES if not pattern.search(s)] if (
        word.lower() == DEFAULT_WORD) else []
    near_set = set(NEAR_MISS_WORDS) | set(extra_near_misses)
    near = [w for w in negative_words if w in near_set] or list(negative_words)
    texts = []
    for _ in range(count):
        if fixed and rng.random() < 0.6:
            texts.append(fixed[int(rng.integers(len(fixed)))])
        else:
            template = NEGATIVE_TEMPLATES[int(rng.integers(len(NEGATIVE_TEMPLATES)))]
            pool = near if rng.random() < 0.7 else list(negative_words)
            texts.append(template.format(near=pool[int(rng.integers(len(pool)))]))
    return [t for t in texts if not pattern.search(t)]


def corpus_passages(rng: np.random.Generator, word: str, count: int, corpus=None) -> list[str]:
    """``count`` runs of 12-30 consecutive words of the text corpus without the trigger word's forms."""
    if count == 0:
        return []
    if corpus is None:
        from data.text_corpus import load_corpus

        corpus = load_corpus()
    pattern = trigger_pattern(word)
    long_sentences = [s for s in corpus if len(s) >= PASSAGE_WORDS[1]]
    passages = []
    while len(passages) < count:
        sentence = long_sentences[int(rng.integers(len(long_sentences)))]
        length = int(rng.integers(*PASSAGE_WORDS))
        start = int(rng.integers(0, len(sentence) - length + 1))
        text = " ".join(sentence[start:start + length])
        if not pattern.search(text):
            passages.append(text)
    return passages


def synthesize_texts_in_fresh_process(items, data_path=None) -> list[SpokenText]:
    """Each (text, :class:`Speaker`) of ``items`` said with word times, in a new Python process."""
    request = dict(items=[[text, dataclasses.asdict(speaker)] for text, speaker in items],
                   data_path=data_path)
    with worker_output("data.trigger_word.sentences:_texts_worker", request, "texts.npz",
                       "Sentence synthesis") as path:
        # The child writes its utterances as a bank's first group (the one file format for them).
        bank = SentenceBank.load(path)
    return bank.positives


def _texts_worker():
    """Entry point of the child process: request JSON on stdin, utterances to argv[1]."""
    from data.trigger_word.speech_engine import EspeakEngine

    request = json.loads(sys.stdin.read())
    engine = EspeakEngine(request.get("data_path"))
    spoken = []
    for text, speaker in request["items"]:
        audio, words = engine.synthesize_words(text, Speaker(**speaker))
        spoken.append(SpokenText(audio, text, words))
    SentenceBank("", spoken, [], []).save(Path(sys.argv[1]), {})


def build_sentence_bank(options: SentenceOptions, cache_directory=None, corpus=None) -> SentenceBank:
    """Synthesises the sentences and passages of ``options`` (deterministic given the options)."""
    speakers = make_speakers(options.speakers_per_variant, options.seed,
                             synthetic_voices=options.synthetic_voices)[options.split]
    rng = np.random.default_rng([options.seed, SPLITS.index(options.split), 808])
    negative_words = tuple(w for w in with_extra_near_misses(options.negative_words,
                                                             options.extra_near_misses)
                           if not trigger_pattern(options.word).search(w))
    items, kinds = [], []
    for speaker in speakers:
        for text in positive_texts(rng, options.word, options.sentences_per_speaker):
            items.append((text, speaker))
            kinds.append("positive")
        for text in negative_texts(rng, options.word, negative_words, options.sentences_per_speaker,
                                   options.extra_near_misses):
            items.append((text, speaker))
            kinds.append("negative")
    for text in corpus_passages(rng, options.word, options.num_passages, corpus):
        items.append((text, speakers[int(rng.integers(len(speakers)))]))
        kinds.append("passage")
    with synthetic_voice_data(options.seed, options.synthetic_voices, cache_directory) as data_path:
        spoken = synthesize_texts_in_fresh_process(items, data_path) if items else []
    groups = {kind: [s for s, k in zip(spoken, kinds) if k == kind]
              for kind in ("positive", "negative", "passage")}
    return SentenceBank(options.word, groups["positive"], groups["negative"], groups["passage"])


def load_sentence_bank(options: SentenceOptions, cache: ClipCache | None = None) -> SentenceBank:
    """The sentence bank of ``options``: from the cache directory, or synthesised and written there."""
    cache = ClipCache() if cache is None else cache
    path = cache.path(options.name, options, ".npz")
    if path is not None and path.exists():
        return SentenceBank.load(path)
    bank = build_sentence_bank(options, cache.directory)
    if path is not None:
        bank.save(path, cache_fields(options))
    return bank


def continuous_speech(rng: np.random.Generator, num_samples: int, passages: list,
                      talkers=(1, 4)) -> np.ndarray:
    """Several talkers reading passages at once, each at its own level, unit RMS.

    Each talker reads passage after passage (with short pauses) from a random
    start, so the background is speech throughout, not isolated words.
    """
    if not passages:
        raise ValueError("Continuous speech needs passages; the sentence bank has none")
    out = np.zeros(num_samples, np.float32)
    for _ in range(int(rng.integers(talkers[0], talkers[1] + 1))):
        voice = np.zeros(num_samples, np.float32)
        position = -int(rng.integers(0, SAMPLE_RATE * 4))
        while position < num_samples:
            audio = passages[int(rng.integers(len(passages)))].audio
            start, end = max(position, 0), min(position + len(audio), num_samples)
            if end > start:
                voice[start:end] += audio[start - position:end - position]
            position += len(audio) + int(rng.uniform(0.1, 0.8) * SAMPLE_RATE)
        out += voice / (np.std(voice) + 1e-12) * rng.uniform(0.3, 1.0)
    out += 0.003 * rng.standard_normal(num_samples, dtype=np.float32)
    return out / (np.std(out) + 1e-12)
