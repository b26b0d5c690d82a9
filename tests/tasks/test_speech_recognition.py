"""Tests of the speech-recognition task: config, model, CTC loss, export, the transcribe CLI."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import keras
import tensorflow as tf

from tasks.common.config import ConfigError, parse_config
from tasks.speech_recognition.config import Config
from tasks.speech_recognition.model import NUM_CLASSES, SpeechRecognitionModel, build_model, ctc_loss, output_lengths

ROOT = Path(__file__).resolve().parents[2]
TINY = dict(units=8, num_layers=1, conv_filters=8, num_mel_bins=16, frequency_mask_bins=4, dropout=0.0)
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")


def speech_like(num_samples, seed=0, level=0.3):
    """A gliding, gated tone with a little noise: enough structure for non-trivial posteriors."""
    rng = np.random.default_rng(seed)
    time = np.arange(num_samples) / 16000
    tone = np.sin(2 * np.pi * (200 + 150 * seed) * time * (1 + 0.3 * np.sin(2 * np.pi * 0.7 * time)))
    gate = np.sin(2 * np.pi * 2.5 * time) > 0
    return (level * tone * gate + 0.01 * rng.standard_normal(num_samples)).astype(np.float32)


# --------------------------------------------------------------------------- config


def test_config_validation():
    with pytest.raises(ConfigError, match="--subsampling"):
        Config(subsampling=5)
    with pytest.raises(ConfigError, match="--frequency-mask-bins"):
        Config(num_mel_bins=8, frequency_mask_bins=8)
    with pytest.raises(ConfigError, match="--model"):
        Config(model="conformer")
    with pytest.raises(ConfigError, match="beam_lm"):
        Config(serving_decoder="beam_lm", lm_order=0)
    with pytest.raises(ConfigError, match="--units"):
        Config(model="transformer", units=30, num_heads=4)
    # A Transformer-only option given for the recurrent model is refused on the command line.
    with pytest.raises(SystemExit):
        parse_config(Config, ["--model", "birnn", "--num-heads", "2"])
    config = parse_config(Config, ["--model", "transformer", "--num-heads", "2", "--units", "32"])
    assert (config.num_heads, config.units) == (2, 32)


# --------------------------------------------------------------------------- model


@pytest.mark.parametrize("architecture", ["birnn", "transformer"])
def test_output_lengths_shapes_and_padding(architecture):
    keras.utils.set_random_seed(1)
    extra = dict(num_heads=2, intermediate_dim=16) if architecture == "transformer" else {}
    model = build_model(architecture=architecture, **TINY, **extra, subsampling=4)
    lengths = np.array([16000, 9000, 700], np.int32)
    batch = np.zeros((3, 16000), np.float32)
    for row, length in enumerate(lengths):
        batch[row, :length] = speech_like(length, seed=row)
    log_probs, out_lengths = model.encode(batch, lengths)
    assert tuple(log_probs.shape) == (3, 25, NUM_CLASSES)
    assert out_lengths.numpy().tolist() == [25, 15, 2] == [-(-n // 640) for n in lengths]
    np.testing.assert_allclose(np.exp(np.asarray(log_probs)).sum(-1), 1.0, atol=1e-5)
    # Each utterance gets the answer it gets alone, whatever the batch's padding.
    for row, length in enumerate(lengths):
        alone, alone_length = model.encode(batch[row:row + 1, :length])
        assert int(alone_length[0]) == out_lengths[row]
        np.testing.assert_allclose(np.asarray(alone)[0], np.asarray(log_probs)[row, :out_lengths[row]],
                                   atol=2e-4)
    assert output_lengths(np.array([1, 320, 321]), 2).tolist() == [1, 1, 2]
    assert output_lengths(np.array([480, 481]), 3).tolist() == [1, 2]
    assert build_model(**TINY, subsampling=3).encode(batch[:1])[0].shape[1] == 34  # ceil(16000 / 480)


def test_keras_round_trip_and_invalid_arguments(tmp_path):
    model = build_model(**TINY, subsampling=2)
    waveform = speech_like(8000)[None]
    path = tmp_path / "model.keras"
    model.save(path)
    restored = keras.models.load_model(path)
    np.testing.assert_allclose(np.asarray(restored.encode(waveform)[0]), np.asarray(model.encode(waveform)[0]),
                               atol=1e-6)
    assert model.encode(waveform)[0].shape[1] == 25  # 10 ms x 2 per output frame
    with pytest.raises(ValueError, match="architecture"):
        SpeechRecognitionModel(architecture="conformer")
    with pytest.raises(ValueError, match="subsampling"):
        SpeechRecognitionModel(subsampling=5)
    with pytest.raises(ValueError, match="units"):
        SpeechRecognitionModel(units=0)
    with pytest.raises(ValueError, match="cell"):
        SpeechRecognitionModel(cell="rnn")


def test_spec_augment_masks_only_in_training():
    model = build_model(**TINY, time_masks=2, time_mask_frames=10, frequency_masks=2)
    waveform = speech_like(32000)[None]
    lengths = np.array([32000], np.int32)
    clean, mask = model.features(waveform, lengths)
    again, _ = model.features(waveform, lengths)
    np.testing.assert_array_equal(np.asarray(clean), np.asarray(again))
    valid = np.asarray(mask)[0]  # the utterance's own frames, not the padding to whole output frames
    assert valid.sum() == 200 and not np.asarray(clean)[0, ~valid].any()
    masked = np.asarray(model.features(waveform, lengths, training=True)[0])[0, valid]
    clean = np.asarray(clean)[0, valid]
    zeroed = (masked == 0) & (clean != 0)
    assert zeroed.any()
    # Every change is a zeroed frame (whole row) or band (whole column).
    rows, columns = zeroed.all(axis=1), zeroed.all(axis=0)
    assert np.array_equal(zeroed, rows[:, None] | columns[None, :] & ~(clean == 0))
    assert rows.sum() <= 2 * 10 and columns.sum() <= 2 * 4
    # Features are normalised per utterance over its own frames.
    np.testing.assert_allclose(clean.mean(axis=0), 0, atol=1e-4)
    np.testing.assert_allclose(clean.std(axis=0), 1, atol=0.02)


def test_ctc_loss_matches_keras_and_decreases_on_a_tiny_batch():
    rng = np.random.default_rng(0)
    log_probs = tf.nn.log_softmax(rng.normal(size=(3, 12, NUM_CLASSES)).astype(np.float32))
    labels = np.array([[3, 3, 5, 0], [7, 1, 0, 0], [2, 4, 6, 8]], np.int32)
    label_length = np.array([3, 2, 4], np.int32)
    logit_length = np.array([12, 7, 10], np.int32)
    np.testing.assert_allclose(
        np.asarray(ctc_loss(labels, log_probs, label_length, logit_length)),
        np.asarray(keras.ops.ctc_loss(labels, log_probs, label_length, logit_length, mask_index=0)), rtol=1e-5)
    # A transcript that cannot fit its frames costs nothing instead of raising.
    too_long = np.asarray(ctc_loss(labels, log_probs, label_length, np.array([12, 7, 3], np.int32)))
    assert too_long[2] == 0 and too_long[0] > 0

    keras.utils.set_random_seed(0)
    model = build_model(**dict(TINY, units=16, conv_filters=16), time_masks=0, frequency_masks=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    waveforms = np.stack([speech_like(8000, seed=s) for s in range(2)])
    x = {"waveform": waveforms, "num_samples": np.array([8000, 6000], np.int32)}
    y = {"labels": np.array([[2, 3, 4], [5, 6, 0]], np.int32), "label_length": np.array([3, 2], np.int32)}
    before = float(model.evaluate(x, y, verbose=0))
    model.fit(x, y, epochs=25, verbose=0)
    after = float(model.evaluate(x, y, verbose=0))
    assert after < 0.5 * before


# --------------------------------------------------------------------------- export and CLI


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    from tasks.speech_recognition.export import export_saved_model

    directory = tmp_path_factory.mktemp("speech_recognition_export")
    keras.utils.set_random_seed(3)
    model = build_model(**dict(TINY, units=12))
    export_saved_model(model, directory / "saved_model", beam_width=4)
    # A stand-in date model with the date-translation SavedModel's interface.
    dates = tf.Module()
    dates.serve = tf.function(lambda text: {"iso": tf.strings.join(["iso:", text]), "confidence":
                                            tf.ones_like(text, tf.float32)},
                              input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    tf.saved_model.save(dates, str(directory / "dates"), signatures={"serving_default": dates.serve})
    return dict(model=model, directory=directory)


@pytest.mark.e2e
def test_saved_model_in_fresh_process_matches_encode_and_decoding(exported):
    from tasks.speech_recognition.ctc_decoding import greedy_decode, prefix_beam_search

    directory, model = exported["directory"], exported["model"]
    waveforms = [speech_like(n, seed=s) for s, n in ((0, 12000), (1, 20001), (2, 5000))]
    np.savez(directory / "waveforms.npz", *waveforms)
    script = (
        "import numpy as np, tensorflow as tf, json, sys\n"
        f"loaded = tf.saved_model.load({str(directory / 'saved_model')!r})\n"
        f"data = np.load({str(directory / 'waveforms.npz')!r})\n"
        "rows = []\n"
        "for key in sorted(data.files, key=lambda k: int(k.split('_')[1])):\n"
        "    w = tf.constant(data[key])\n"
        "    row = {}\n"
        "    for name in ('serving_default', 'greedy', 'beam'):\n"
        "        out = loaded.signatures[name](waveform=w)\n"
        "        row[name] = [out['text'].numpy().decode(), float(out['confidence'])]\n"
        "    row['log_probs'] = loaded.signatures['posteriors'](waveform=w)['log_probs'].numpy().tolist()\n"
        "    rows.append(row)\n"
        "print(json.dumps(rows))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, env=ENV)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = json.loads(result.stdout.strip().splitlines()[-1])
    for waveform, row in zip(waveforms, rows):
        log_probs, lengths = model.encode(waveform[None])
        np.testing.assert_allclose(np.array(row["log_probs"]), np.asarray(log_probs)[0], atol=1e-4)
        texts, confidence = greedy_decode(log_probs, lengths)
        assert row["greedy"][0] == row["serving_default"][0] == texts[0].numpy().decode()
        np.testing.assert_allclose(row["greedy"][1], float(confidence[0]), atol=1e-4)
        texts, confidence = prefix_beam_search(log_probs, lengths, beam_width=4)
        assert row["beam"][0] == texts[0].numpy().decode()
        np.testing.assert_allclose(row["beam"][1], float(confidence[0]), atol=1e-4)
    assert any(row["greedy"][0] for row in rows), "the test needs some non-empty transcripts"


@pytest.mark.e2e
def test_saved_model_with_a_language_model_serves_the_search_held_to_its_words(tmp_path):
    from tasks.speech_recognition.ctc_decoding import Lexicon, decode
    from tasks.speech_recognition.export import export_saved_model
    from tasks.speech_recognition.language_model import NgramLanguageModel

    keras.utils.set_random_seed(3)
    model = build_model(**dict(TINY, units=12))
    lm = NgramLanguageModel.from_texts(["one two three", "three two one", "two", "a b c d e"], order=2)
    with pytest.raises(ValueError, match="needs a language model"):
        export_saved_model(model, tmp_path / "none", serving_decoder="beam_lm_lexicon")
    export_saved_model(model, tmp_path / "saved_model", beam_width=4, lm=lm, serving_decoder="beam_lm_lexicon")
    loaded = tf.saved_model.load(str(tmp_path / "saved_model"))
    assert loaded.serving_decoder.numpy().decode() == "beam_lm_lexicon"  # what a server tells its users
    texts = []
    for seed in range(3):
        waveform = speech_like(12000, seed=seed)
        log_probs, lengths = model.encode(waveform[None])
        expected, confidence = decode(log_probs, lengths, "beam_lm_lexicon", beam_width=4, lm=lm.scorer(),
                                      lexicon=Lexicon(lm.words()))
        for name in ("beam_lexicon", "serving_default"):
            out = loaded.signatures[name](waveform=tf.constant(waveform))
            assert out["text"].numpy().decode() == expected[0].numpy().decode()
            np.testing.assert_allclose(float(out["confidence"]), float(confidence[0]), atol=1e-5)
        texts.append(expected[0].numpy().decode())
        assert set(texts[-1].split()) <= set(lm.words())
    assert any(texts), "the test needs some non-empty transcripts"
    # Below min_confidence the answer is empty and its confidence kept.
    export_saved_model(model, tmp_path / "strict", beam_width=4, lm=lm, serving_decoder="beam_lm_lexicon",
                       min_confidence=1.0)
    strict = tf.saved_model.load(str(tmp_path / "strict")).signatures["serving_default"]
    out = strict(waveform=tf.constant(speech_like(12000, seed=0)))
    assert out["text"].numpy().decode() == "" and 0.0 < float(out["confidence"]) < 1.0
    with pytest.raises(ValueError, match="min_confidence"):
        export_saved_model(model, tmp_path / "bad", min_confidence=1.5)


def test_pieces_cut_long_audio_at_pauses():
    from tasks.speech_recognition.transcribe import ALIGN, pieces

    # 50 s of "speech" with a pause (silence) at 15.0-15.5 s and 33.0-33.5 s.
    audio = speech_like(50 * 16000, seed=1, level=0.3)
    audio = np.where(np.sin(np.arange(len(audio)) / 16000 * 2 * np.pi * 2.5) > 0, audio, 0.3 * audio)
    for start in (15.0, 33.0):
        audio[int(start * 16000):int((start + 0.5) * 16000)] = 0
    blocks = [audio[i:i + 70001] for i in range(0, len(audio), 70001)]
    cut = list(pieces(iter(blocks)))
    np.testing.assert_array_equal(np.concatenate(cut), audio)
    assert all(len(p) <= 20 * 16000 for p in cut) and len(cut) == 3
    boundaries = np.cumsum([len(p) for p in cut])[:-1] / 16000
    assert 15.0 <= boundaries[0] <= 15.5 and 33.0 <= boundaries[1] <= 33.5
    assert all(int(b * 16000) % ALIGN == 0 for b in boundaries)


@pytest.mark.e2e
def test_transcribe_cli_formats_errors_silence_json_plot(exported, tmp_path):
    import soundfile
    import soxr

    directory = exported["directory"]
    speech = speech_like(24000, seed=0)
    stereo = np.stack([speech, speech], axis=1)
    soundfile.write(tmp_path / "stereo44.wav", soxr.resample(stereo, 16000, 44100), 44100)
    soundfile.write(tmp_path / "mono8k.flac", soxr.resample(speech, 16000, 8000), 8000)
    soundfile.write(tmp_path / "silence.wav", np.zeros(16000, np.float32), 16000)
    (tmp_path / "notes.txt").write_text("this is not audio")
    soundfile.write(tmp_path / "empty.wav", np.zeros(0, np.float32), 16000)
    whole = (tmp_path / "stereo44.wav").read_bytes()
    (tmp_path / "truncated.wav").write_bytes(whole[:len(whole) // 2])
    names = ["stereo44.wav", "notes.txt", "mono8k.flac", "empty.wav", "truncated.wav", "silence.wav",
             "missing.wav"]
    files = [str(tmp_path / n) for n in names]
    result = subprocess.run(
        [sys.executable, "-m", "tasks.speech_recognition", "transcribe", "--model", str(directory / "saved_model"),
         *files, "--json", "--plot", str(tmp_path / "plot.png"), "--dates-model", str(directory / "dates")],
        capture_output=True, text=True, cwd=ROOT, env=ENV)
    assert result.returncode == 1, result.stderr[-2000:]  # some files failed, the others went through
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 4 and all(len(line) < 300 for line in errors)
    for name in ("notes.txt", "empty.wav", "truncated.wav", "missing.wav"):
        assert sum(name in line for line in errors) == 1
    results = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(results) == {files[0], files[2], files[5]}
    assert results[files[5]] == {"text": "", "confidence": 0.0, "iso": ""}
    # The 44.1 kHz stereo file reads as the 16 kHz mono speech (up to the resampling), and the CLI's
    # text is the model's own answer on what was read.
    from tasks.speech_recognition.ctc_decoding import greedy_decode
    from tasks.speech_recognition.transcribe import read_blocks

    audio = np.concatenate(list(read_blocks(files[0], block_seconds=0.3)))
    assert abs(len(audio) - len(speech)) <= 2
    assert np.corrcoef(audio[:len(speech)][100:-100], speech[:len(audio)][100:-100])[0, 1] > 0.99
    log_probs, lengths = exported["model"].encode(audio[None])
    expected = greedy_decode(log_probs, lengths)[0][0].numpy().decode()
    assert results[files[0]]["text"] == expected
    assert results[files[0]]["iso"] == (f"iso:{expected}" if expected else "")
    assert 0.0 <= results[files[2]]["confidence"] <= 1.0
    assert (tmp_path / "plot_stereo44.png").stat().st_size > 5000
    assert (tmp_path / "plot_silence.png").exists()


def test_word_error_rate_and_sentence_accuracy_by_hand():
    """Corpus WER counts every word edit over all reference words; an empty reference counts its insertions."""
    from tasks.speech_recognition.evaluate import sentence_accuracy, word_error_rate

    references = ["seven four two", "the third of march", ""]
    # One substitution (four -> for), one deletion (of), one insertion (march -> march please),
    # and two words inserted where nothing was said: 5 errors over 7 reference words.
    hypotheses = ["seven for two", "the third march please", "uh huh"]
    assert word_error_rate(references, hypotheses) == pytest.approx(5 / 7)
    assert word_error_rate(references[:1], references[:1]) == 0.0
    assert word_error_rate([], []) == 0.0
    assert word_error_rate([""], ["noise"]) == 1.0
    assert sentence_accuracy(references, ["seven four two", "the third of march", ""]) == 1.0
    assert sentence_accuracy(references, hypotheses) == 0.0


@pytest.mark.slow
def test_demo_trains_evaluates_and_exports_through_the_runner(tmp_path):
    """`python -m tasks.speech_recognition demo`: data, fit, WER, SavedModel, two transcribed clips."""
    result = subprocess.run(
        [sys.executable, "-m", "tasks.speech_recognition", "demo", "--out", str(tmp_path / "run"),
         "--cache-dir", str(tmp_path / "cache")],
        capture_output=True, text=True, cwd=ROOT, env=ENV)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    for key in ("test_wer", "test_wer_greedy", "test_wer_beam", "test_sentence_accuracy", "test_per_category"):
        assert key in metrics
    assert len(metrics["history"]["val_wer"]) == metrics["epochs_trained"]
    assert (tmp_path / "run" / "saved_model" / "saved_model.pb").exists()
    assert len(json.loads((tmp_path / "run" / "demo.json").read_text())) == 2


# --------------------------------------------------------------------------- bench


def test_bench_writes_only_its_marked_part_of_the_results_section(tmp_path):
    """bench/speech_recognition.py replaces its own figures and keeps the notes and other sections."""
    sys.path.insert(0, str(ROOT))
    from bench.speech_recognition import BEGIN, END, write_section

    path = tmp_path / "RESULTS.md"
    path.write_text("# Benchmark results\n\n## Trigger word\n\nkeep me\n\n## Speech recognition\n\n"
                    "Not yet measured: a note\nover two lines.\n\nMeasurements behind the defaults: stay.\n\n"
                    "## Sentiment\n\nkeep me too\n")
    write_section(path, "first figures")
    text = path.read_text()
    assert "Not yet measured" not in text and f"{BEGIN}\nfirst figures\n{END}" in text
    assert "Measurements behind the defaults: stay." in text
    assert text.count("keep me") == 2 and text.index("## Sentiment") > text.index("stay.")
    write_section(path, "second figures")
    second = path.read_text()
    assert "first figures" not in second and second.count(BEGIN) == 1
    assert second.replace("second figures", "first figures") == text

    missing = tmp_path / "other.md"
    missing.write_text("# Benchmark results\n\n## Sentiment\n\nx\n")
    write_section(missing, "figures")
    assert missing.read_text().endswith(f"## Speech recognition\n\n{BEGIN}\nfigures\n{END}\n")


def test_bench_scores_dates_end_to_end_against_the_meaning(tmp_path):
    """Speech -> transcript -> date SavedModel: exact only where the answer equals the clip's ISO date."""
    sys.path.insert(0, str(ROOT))
    from types import SimpleNamespace

    from bench.speech_recognition import date_end_to_end

    table = {"may first twenty twenty": "2020-05-01", "march nineteen seventy nine": "1979-03"}

    class FakeDates(tf.Module):
        def __init__(self):
            super().__init__()
            self.table = tf.lookup.StaticHashTable(
                tf.lookup.KeyValueTensorInitializer(list(table), list(table.values())), "")

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
        def serve(self, text):
            return {"date": self.table.lookup(text)}

    module = FakeDates()
    tf.saved_model.save(module, str(tmp_path / "dates"), signatures={"serving_default": module.serve})
    clips = SimpleNamespace(transcripts=["may first twenty twenty", "march nineteen seventy nine", "seven four"],
                            date_iso=["2020-05-01", "1979-03", ""])
    # The first transcript is heard right, the second wrong; the third clip says no date and is not counted.
    heard = ["may first twenty twenty", "march nineteen seventy five", "seven four"]
    result = date_end_to_end(str(tmp_path / "dates"), clips, heard)
    assert result == {"clips": 2, "exact": 0.5, "exact_from_reference_text": 1.0}
