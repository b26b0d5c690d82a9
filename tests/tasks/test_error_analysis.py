"""Error analysis attributes errors correctly, checked against exhaustive search on a tiny seq2seq model."""

import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf

from tasks.common.error_analysis import (
    MODEL,
    SEARCH,
    analyze_errors,
    sequence_lengths,
    teacher_forced_scorer,
)

VOCABULARY = 3  # output ids 0..2; id 3 is the decoder's start token
START = 3
LENGTH = 3


def table_scorer(table):
    """score_fn from a dict {(input, target tuple): log P}."""
    def score_fn(inputs, targets):
        return np.array([table[(int(x), tuple(int(t) for t in y))] for x, y in zip(inputs, targets)])
    return score_fn


def test_attribution_from_known_probabilities():
    table = {
        (0, (1, 1)): -0.5, (0, (2, 2)): -2.0,   # reference more likely: search at fault
        (1, (1, 1)): -3.0, (1, (2, 2)): -1.0,   # output more likely: model at fault
        (2, (1, 1)): -1.0, (2, (2, 2)): -1.0,   # a tie is the model's fault (P(y*|x) is not greater)
    }
    inputs = np.array([0, 1, 2, 3])
    references = np.array([[1, 1], [1, 1], [1, 1], [2, 2]])
    outputs = np.array([[2, 2], [2, 2], [2, 2], [2, 2]])  # the last one is right: no record
    analysis = analyze_errors(table_scorer(table), inputs, references, outputs,
                              describe_target=lambda y: "".join(map(str, y)))
    assert [r.at_fault for r in analysis.records] == [SEARCH, MODEL, MODEL]
    assert [r.index for r in analysis.records] == [0, 1, 2]
    summary = analysis.summary()
    assert (summary["examples"], summary["errors"], summary["search_at_fault"], summary["model_at_fault"]) == (4, 3, 1, 2)
    assert analysis.records[0].reference == "11" and analysis.records[0].output == "22"
    assert "search at fault 1" in analysis.table()


def test_length_penalty_changes_the_verdict():
    # Without normalisation the short output wins; divided by T_y the long reference wins.
    table = {(0, (1, 2, 0)): -0.9, (0, (2, 0, 0)): -0.5}
    references, outputs = np.array([[1, 2, 0]]), np.array([[2, 0, 0]])
    plain = analyze_errors(table_scorer(table), np.array([0]), references, outputs)
    assert plain.records[0].at_fault == MODEL
    normalised = analyze_errors(table_scorer(table), np.array([0]), references, outputs,
                                length_penalty_alpha=1.0, end_id=0)
    # T_y counts up to and including the end token: 3 for the reference, 2 for the output.
    assert list(sequence_lengths(np.vstack([references, outputs]), end_id=0)) == [3, 2]
    assert normalised.records[0].reference_score == pytest.approx(-0.3)
    assert normalised.records[0].output_score == pytest.approx(-0.25)
    assert normalised.records[0].at_fault == MODEL
    normalised = analyze_errors(table_scorer(table), np.array([0]), references, outputs,
                                length_penalty_alpha=2.0, end_id=0)
    assert normalised.records[0].at_fault == SEARCH  # -0.1 > -0.125


def test_errors():
    scorer = table_scorer({})
    with pytest.raises(ValueError, match="same shape"):
        analyze_errors(scorer, np.zeros(2), np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match="one reference per input"):
        analyze_errors(scorer, np.zeros(3), np.zeros((2, 3)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="length_penalty_alpha"):
        analyze_errors(scorer, np.zeros(2), np.zeros((2, 3)), np.zeros((2, 3)), length_penalty_alpha=-1)


def tiny_seq2seq(seed=0):
    """GRU encoder-decoder with random weights: inputs (batch, 4) ids, decoder ids (batch, 3)."""
    keras.utils.set_random_seed(seed)
    encoder_ids = keras.Input((4,), dtype="int32")
    decoder_ids = keras.Input((LENGTH,), dtype="int32")
    _, state = keras.layers.GRU(8, return_state=True)(keras.layers.Embedding(5, 4)(encoder_ids))
    decoded = keras.layers.GRU(8, return_sequences=True)(keras.layers.Embedding(4, 4)(decoder_ids), initial_state=state)
    # Large output weights make the distributions peaked enough that greedy often misses the best.
    logits = keras.layers.Dense(VOCABULARY, kernel_initializer=keras.initializers.RandomNormal(stddev=3.0))(decoded)
    return keras.Model([encoder_ids, decoder_ids], logits)


def shift_right(targets):
    return tf.concat([tf.fill([tf.shape(targets)[0], 1], START), tf.cast(targets[:, :-1], tf.int32)], axis=1)


def greedy(model, inputs):
    outputs = np.zeros((len(inputs), LENGTH), np.int32)
    for step in range(LENGTH):
        # The decoder is causal, so the logits at `step` depend only on the prefix already chosen.
        logits = model([tf.constant(inputs), shift_right(tf.constant(outputs))], training=False).numpy()
        outputs[:, step] = logits[:, step].argmax(-1)
    return outputs


def test_against_exhaustive_search_on_a_tiny_seq2seq_model():
    model = tiny_seq2seq()
    scorer = teacher_forced_scorer(model, shift_right)
    rng = np.random.default_rng(0)
    inputs = rng.integers(0, 5, size=(40, 4)).astype(np.int32)
    candidates = np.array(list(itertools.product(range(VOCABULARY), repeat=LENGTH)), np.int32)  # (27, 3)
    scores = np.stack([scorer(inputs, np.repeat(c[None], len(inputs), 0)) for c in candidates], axis=1)
    # The scorer is a proper distribution over all 27 outputs.
    np.testing.assert_allclose(np.exp(scores).sum(axis=1), 1.0, rtol=1e-5)
    best = candidates[scores.argmax(axis=1)]
    greedy_outputs = greedy(model, inputs)

    # The exhaustive best as reference, greedy as output: every error is the search's fault.
    analysis = analyze_errors(scorer, inputs, best, greedy_outputs, batch_size=7)
    expected_errors = int(np.any(best != greedy_outputs, axis=1).sum())
    assert expected_errors > 0, "the test model should make greedy decoding miss the best sequence"
    assert analysis.num_errors == expected_errors
    assert analysis.search_errors == expected_errors and analysis.model_errors == 0

    # Random references, the exhaustive best as output: every error is the model's fault.
    random_references = candidates[rng.integers(0, len(candidates), size=len(inputs))]
    analysis = analyze_errors(scorer, inputs, random_references, best)
    assert analysis.num_errors == int(np.any(random_references != best, axis=1).sum()) > 0
    assert analysis.model_errors == analysis.num_errors
    for record in analysis.records:
        assert record.reference_score == pytest.approx(scores[record.index][
            np.flatnonzero((candidates == random_references[record.index]).all(1))[0]], abs=1e-5)


@pytest.mark.e2e
def test_date_translation_command_on_an_untrained_model(tmp_path, capsys):
    # The command end to end on the date task's own test split; an untrained model gets nearly
    # everything wrong, which exercises decoding, scoring and the table without training.
    import dataclasses
    import json

    from tasks.date_translation.config import Config as DateConfig
    from tasks.date_translation.error_analysis import error_analysis_command as main
    from tasks.date_translation.model import build_model as build_date_model

    config = DateConfig(model="attention", encoder_units=8, decoder_units=8, attention_units=4, embedding_dim=4,
                        test_size=30, beam_width=2)
    build_date_model(config).save(tmp_path / "model.keras")
    (tmp_path / "config.json").write_text(json.dumps(dataclasses.asdict(config)))
    assert main(["--run", str(tmp_path), "--show", "3", "--out", str(tmp_path / "errors.json")]) == 0
    printed = capsys.readouterr().out
    assert "beam width 2" in printed and "in 30 examples" in printed
    saved = json.loads((tmp_path / "errors.json").read_text())
    summary = saved["summary"]
    assert summary["examples"] == 30 and summary["errors"] == len(saved["records"]) > 0
    assert summary["search_at_fault"] + summary["model_at_fault"] == summary["errors"]
    assert sum(c["errors"] for c in saved["by_family"].values()) == summary["errors"]
    assert "errors by format family" in printed
    for record in saved["records"]:
        assert record["at_fault"] == ("search" if record["reference_score"] > record["output_score"] else "model")
        assert len(record["reference"]) == len(record["output"]) == 19  # the fixed answer layout


def test_date_translation_command_without_a_run(tmp_path, capsys):
    from tasks.date_translation.error_analysis import error_analysis_command as main

    assert main(["--run", str(tmp_path / "missing")]) == 2
    assert "train first" in capsys.readouterr().err


def test_the_shared_error_analysis_imports_no_task():
    import subprocess
    import sys
    from pathlib import Path

    code = "import sys, tasks.common.error_analysis; print(sorted(m for m in sys.modules if m.startswith('tasks.')))"
    repository = Path(__file__).resolve().parents[2]
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            cwd=repository).stdout
    assert "tasks.common.error_analysis" in loaded
    assert "tasks.date_translation" not in loaded
