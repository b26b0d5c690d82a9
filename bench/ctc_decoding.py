"""Speed of the in-graph CTC decoders against pyctcdecode on a 5 s utterance.

The posteriors are synthetic, shaped like a CTC model's: the utterance's
characters each peak on one frame of their stretch of `--frames` frames (blank
elsewhere), with Gaussian noise of scale `--noise` on every logit before the
log-softmax; 200 frames is 5 s at 25 ms per output frame. The word LM is a
trigram `NgramLanguageModel` (interpolated Kneser-Ney) built from a few
hundred sentences of spoken numbers, dates and times generated below.

Ours: `greedy_decode` and `prefix_beam_search` (widths `--widths`, no pruning
of characters, without and with the LM: lm_weight 0.5, word_bonus 1.0), each
one `tf.function` with an `input_signature` as in a SavedModel, traced before
timing. Reference: pyctcdecode's `decode_beams` (pure Python) at the same
widths with its default pruning, without an LM and with the same n-gram LM
through a small adapter (same fusion: alpha * log p + beta per word, </s> at
the end). All run in one process on `--threads` TensorFlow threads, timed
alternately; the script prints the median wall and CPU time per utterance,
each decoder's text, and the load average.

    .venv/bin/python bench/ctc_decoding.py [--frames 200] [--rounds 11] [--threads 1]
"""

import argparse
import itertools
import os
import statistics
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from tasks.speech_recognition.ctc_decoding import (  # noqa: E402
    ALPHABET,
    greedy_decode,
    prefix_beam_search,
)
from tasks.speech_recognition.language_model import EOS, NgramLanguageModel  # noqa: E402

UTTERANCE = "meet me on june second at ten thirty a m"
UNITS = "one two three four five six seven eight nine".split()
MONTHS = "january february march april may june july august september october november december"
ORDINALS = "first second third fourth fifth sixth seventh eighth ninth tenth".split()


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=200, help="frames of the utterance")
    parser.add_argument("--noise", type=float, default=1.0, help="logit noise scale")
    parser.add_argument("--widths", default="4,8,16")
    parser.add_argument("--rounds", type=int, default=11, help="timed runs of each decoder")
    parser.add_argument("--threads", type=int, default=1, help="TensorFlow intra-op threads")
    return parser.parse_args()


def lm_sentences():
    """Spoken numbers, dates and times, for the bench's LM only."""
    sentences = [" ".join(digits) for digits in itertools.permutations(UNITS[:6], 3)]
    for month, ordinal in itertools.product(MONTHS.split(), ORDINALS):
        sentences += [f"the {ordinal} of {month}", f"{month} {ordinal}"]
    hours = UNITS + ["ten", "eleven", "twelve"]
    for hour, minute in itertools.product(hours, ["thirty", "fifteen"]):
        sentences += [f"{hour} {minute} a m", f"meet me at {hour} {minute} p m"]
    sentences += [f"meet me on {m} {o}" for m, o in itertools.product(MONTHS.split(), ORDINALS[:3])]
    return sentences


def synthetic_log_probs(text, frames, noise, seed=0):
    if frames < 2 * len(text):
        raise ValueError(f"--frames must be at least {2 * len(text)} for the utterance.")
    rng = np.random.default_rng(seed)
    labels = np.zeros(frames, dtype=np.int64)
    stretch = frames / len(text)
    for i, char in enumerate(text):
        labels[int(i * stretch + stretch / 2)] = ALPHABET.index(char) + 1
    logits = rng.normal(scale=noise, size=(frames, len(ALPHABET) + 1))
    logits[np.arange(frames), labels] += 5.0
    return tf.nn.log_softmax(logits.astype("float32")).numpy()


def pyctcdecode_lm(language_model, alpha, beta):
    """Our n-gram LM behind pyctcdecode's language-model interface, with the same fusion."""
    from pyctcdecode.language_model import AbstractLanguageModel

    class NgramAdapter(AbstractLanguageModel):
        @property
        def order(self):
            return language_model.order

        def get_start_state(self):
            return ()

        def score_partial_token(self, partial_token):
            return 0.0

        def score(self, prev_state, word, is_last_word=False):
            history = prev_state + (word,)
            score = alpha * language_model.log_prob(word, prev_state) + beta
            if is_last_word:
                score += alpha * language_model.log_prob(EOS, history)
            return score, history[-(language_model.order - 1) :]

    return NgramAdapter()


def timed(fn, rounds):
    walls, cpus = [], []
    for _ in range(rounds):
        wall, cpu = time.perf_counter(), time.process_time()
        result = fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus), result


def main():
    args = parse_args()
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    widths = [int(w) for w in args.widths.split(",")]
    from pyctcdecode import build_ctcdecoder
    from pyctcdecode.decoder import BeamSearchDecoderCTC
    from pyctcdecode.alphabet import Alphabet

    language_model = NgramLanguageModel.from_texts(lm_sentences(), order=3)
    scorer = language_model.scorer()
    log_probs = synthetic_log_probs(UTTERANCE, args.frames, args.noise)
    batch = tf.constant(log_probs[np.newaxis])
    lengths = tf.constant([args.frames], tf.int32)
    spec = [
        tf.TensorSpec([None, None, len(ALPHABET) + 1], tf.float32),
        tf.TensorSpec([None], tf.int32),
    ]

    ours = {"greedy": tf.function(greedy_decode, input_signature=spec)}
    for width in widths:
        for with_lm in (False, True):
            ours[f"beam {width}" + (" + LM" if with_lm else "")] = tf.function(
                lambda x, n, width=width, lm=scorer if with_lm else None: prefix_beam_search(
                    x, n, beam_width=width, lm=lm, lm_weight=0.5, word_bonus=1.0
                ),
                input_signature=spec,
            )
    plain = build_ctcdecoder([""] + list(ALPHABET))
    fused = BeamSearchDecoderCTC(
        Alphabet.build_alphabet([""] + list(ALPHABET)),
        pyctcdecode_lm(language_model, alpha=0.5, beta=1.0),
    )
    theirs = {}
    for width in widths:
        theirs[f"beam {width}"] = lambda w=width: plain.decode_beams(log_probs, beam_width=w)[0][0]
        theirs[f"beam {width} + LM"] = lambda w=width: fused.decode_beams(
            log_probs, beam_width=w
        )[0][0]

    for fn in ours.values():  # trace
        fn(batch, lengths)
    rows = []
    for name, fn in ours.items():
        wall, cpu, (texts, confidence) = timed(lambda: fn(batch, lengths), args.rounds)
        row = [name, wall, cpu, texts.numpy()[0].decode(), float(confidence[0])]
        if name in theirs:
            their_wall, their_cpu, their_text = timed(theirs[name], args.rounds)
            row += [their_wall, their_cpu, their_text]
        rows.append(row)

    print(f"utterance {UTTERANCE!r}, {args.frames} frames, noise {args.noise}, "
          f"{args.threads} TensorFlow thread(s), {args.rounds} rounds")
    print("| decoder | ours: median ms (CPU ms) | pyctcdecode: median ms (CPU ms) | "
          "pyctcdecode / ours (wall) | our text (confidence) | pyctcdecode's text |")
    print("| --- | --- | --- | --- | --- | --- |")
    for row in rows:
        name, wall, cpu, text, confidence = row[:5]
        if len(row) > 5:
            their_wall, their_cpu, their_text = row[5:]
            theirs_cell = f"{their_wall * 1e3:.1f} ({their_cpu * 1e3:.1f})"
            ratio = f"{their_wall / wall:.1f}"
        else:
            theirs_cell = ratio = their_text = ""
        print(f"| {name} | {wall * 1e3:.1f} ({cpu * 1e3:.1f}) | {theirs_cell} | {ratio} | "
              f"{text} ({confidence:.3f}) | {their_text} |")
    print("load average (1/5/15 min):", " ".join(f"{x:.1f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
