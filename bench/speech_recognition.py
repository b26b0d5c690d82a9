"""Speech recognition figures: WER on unseen voices and other engines, spoken dates end to end, real-time factor.

    .venv/bin/python bench/speech_recognition.py --run runs/speech_recognition \
        [--dates-model runs/date_translation] [--results bench/RESULTS.md]

On one trained run (its ``model.keras``, ``saved_model/``, ``config.json``,
``language_model.json`` and TFLite file), with every timing on one CPU thread:

* WER (``jiwer``) and sentence accuracy on eSpeak NG voice variants never heard
  in training (the run's test split), greedy vs beam vs beam + word n-gram LM
  on the same clips, per grammar category;
* the same on the other engines' voices (flite, festival:
  ``data.other_engines``, evaluation only, never in training);
* spoken dates end to end: speech -> transcript -> the date-translation
  SavedModel (``--dates-model``) -> ISO date, exact against the utterance's
  meaning, on the clips that say a full date or a month and year;
* real-time factor (compute seconds per audio second) of the SavedModel's
  ``serving_default`` and of the TFLite acoustic model (plus greedy decoding
  in NumPy), one thread.

``--results`` replaces the measured part of the ``## Speech recognition``
section of bench/RESULTS.md (between the ``BEGIN``/``END`` markers of this
bench; the notes on the defaults after them stay), or appends the section.
``--errors`` writes every misrecognised utterance of each set and decoder
(reference, hypothesis, category, voice, background) as JSON, for the error
analysis.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.results_file import markers, write_marked_section  # noqa: E402
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SECTION = "## Speech recognition"
BEGIN, END = markers("bench/speech_recognition.py")


def write_section(path, body):
    """Puts ``body`` between this bench's markers in the ``## Speech recognition`` section of ``path``."""
    write_marked_section(path, SECTION, body, "bench/speech_recognition.py")


def load_run(run_dir):
    import keras

    import tasks.speech_recognition.model  # noqa: F401  (registers the model class)
    from tasks.common.run_dir import RunDir
    from tasks.speech_recognition.config import Config
    from tasks.speech_recognition.language_model import NgramLanguageModel

    run = RunDir.open(run_dir, "speech_recognition", needs=("saved_model", "model.keras", "config.json"))
    config = run.read_config(Config)
    model = keras.models.load_model(str(run.model_path))
    lm_path = run.dir / "language_model.json"
    lm = NgramLanguageModel.load(lm_path) if lm_path.exists() else None
    return run, config, model, lm


def decoder_rows(transcriber, clips, name):
    from tasks.speech_recognition.evaluate import evaluate_clips

    started = time.perf_counter()
    results, hypotheses = evaluate_clips(transcriber, clips)
    seconds = time.perf_counter() - started
    rows = []
    for decoder, result in results.items():
        rows.append({"set": name, "decoder": decoder, **{k: v for k, v in result.items() if k != "per_category"},
                     "per_category": result["per_category"]})
    return rows, hypotheses, seconds


def date_end_to_end(dates_model_dir, clips, hypotheses):
    """Exact ISO dates from the transcripts, on the clips that mean a date; None without a date model."""
    import tensorflow as tf

    from tasks.common.run_dir import RunDir

    serve = tf.saved_model.load(str(RunDir.open(dates_model_dir, "date_translation").saved_model_dir)) \
        .signatures["serving_default"]
    rows = [i for i, iso in enumerate(clips.date_iso) if iso]
    if not rows:
        return None
    exact, reference_exact = 0, 0
    for start in range(0, len(rows), 64):
        batch = rows[start:start + 64]
        for texts, counter in ((hypotheses, "speech"), (clips.transcripts, "reference")):
            outputs = serve(text=tf.constant([texts[i] for i in batch]))
            dates = [d.decode() for d in outputs["date"].numpy()]
            hits = sum(d == clips.date_iso[i] for d, i in zip(dates, batch))
            if counter == "speech":
                exact += hits
            else:
                reference_exact += hits
    return {"clips": len(rows), "exact": exact / len(rows), "exact_from_reference_text": reference_exact / len(rows)}


def real_time_factor(run, model, clips, num_clips, tflite_path):
    """Median-free totals: compute seconds over audio seconds, SavedModel and TFLite, one thread."""
    import tensorflow as tf

    from tasks.speech_recognition.export import TFLiteAcousticModel, export_tflite

    waveforms = [np.asarray(clips.waveforms[i], np.float32) for i in range(min(num_clips, len(clips)))]
    audio_seconds = sum(len(w) for w in waveforms) / 16000
    loaded = tf.saved_model.load(str(run.saved_model_dir))
    serve = loaded.signatures["serving_default"]
    serve(waveform=waveforms[0])  # trace and warm up
    started = time.perf_counter()
    for waveform in waveforms:
        serve(waveform=waveform)
    result = {"audio_seconds": audio_seconds, "saved_model": (time.perf_counter() - started) / audio_seconds}
    try:
        if not Path(tflite_path).exists():
            export_tflite(model, tflite_path, num_samples=max(len(w) for w in waveforms))
        tflite = TFLiteAcousticModel(tflite_path, num_threads=1)
        if tflite.num_samples < max(len(w) for w in waveforms):
            tflite_path = Path(tflite_path).with_name("bench_speech_recognition.tflite")
            export_tflite(model, tflite_path, num_samples=max(len(w) for w in waveforms))
            tflite = TFLiteAcousticModel(tflite_path, num_threads=1)
        agree, started = 0, time.perf_counter()
        texts = []
        for waveform in waveforms:
            log_probs = tflite.log_probs(waveform)[:-(-len(waveform) // (160 * model.subsampling))]
            texts.append(greedy_numpy(log_probs))
        result["tflite"] = (time.perf_counter() - started) / audio_seconds
        result["tflite_input_seconds"] = tflite.num_samples / 16000
        for waveform, text in zip(waveforms, texts):
            agree += serve(waveform=waveform)["text"].numpy().decode() == text or False
        result["tflite_agrees_with_saved_model"] = agree / len(waveforms)
    except Exception as error:  # report, do not fail the bench
        result["tflite_error"] = str(error).splitlines()[0][:200]
    return result


def greedy_numpy(log_probs):
    from tasks.speech_recognition.ctc_decoding import ALPHABET

    best = np.argmax(log_probs, axis=-1)
    previous = np.concatenate([[0], best[:-1]])
    characters = [ALPHABET[c - 1] for c, p in zip(best, previous) if c != 0 and c != p]
    return " ".join("".join(characters).split())


def noise_rows(saved_model_dir, seconds=3.0, count=10, seed=0):
    """The SavedModel's answers to pure noise and silence: how many are empty, and their confidences."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    samples = int(seconds * 16000)
    noise = [(rng.standard_normal(samples) * level).astype(np.float32)
             for level in np.geomspace(0.003, 0.1, count)]
    serve = tf.saved_model.load(str(saved_model_dir)).signatures["serving_default"]
    answers = [serve(waveform=waveform) for waveform in noise + [np.zeros(samples, np.float32)]]
    texts = [a["text"].numpy().decode() for a in answers]
    confidences = [float(a["confidence"]) for a in answers]
    return {"inputs": len(texts), "empty": sum(not t for t in texts), "max_confidence": max(confidences),
            "median_confidence": float(np.median(confidences)), "silence_text": texts[-1],
            "texts": texts[:-1]}


def voice_name(speaker):
    """An ``"engine/voice"`` string as it is; an eSpeak Speaker as ``accent+variant``."""
    return speaker if isinstance(speaker, str) else getattr(speaker, "voice", str(speaker))


def grouped_wer(clips, hypotheses, key):
    """{group: {wer, sentence_accuracy, utterances}} of one decoder's hypotheses, grouped by ``key(i)``."""
    from tasks.speech_recognition.evaluate import score

    groups = {}
    for i in range(len(clips)):
        groups.setdefault(key(i), []).append(i)
    return {group: {k: v for k, v in score([clips.transcripts[i] for i in rows],
                                           [hypotheses[i] for i in rows]).items()}
            for group, rows in sorted(groups.items())}


def errors_of(clips, hypotheses):
    return [{"reference": r, "hypothesis": h, "category": clips.categories[i],
             "voice": voice_name(clips.speakers[i]), "background": clips.backgrounds[i],
             "snr_db": clips.snr_db[i]}
            for i, (r, h) in enumerate(zip(clips.transcripts, hypotheses)) if r != h]


def format_section(summary):
    lines = [f"`{summary['bench_command']}`, {summary['date']}, on a run trained with `{summary['command']}` "
             f"({summary['parameters']:,} parameters, weights after epoch {summary['epochs_trained']} of "
             f"{summary['epochs_planned']}). WER by `jiwer`; sentence accuracy = exact transcripts. "
             f"Beam width {summary['beam_width']}, LM: word {summary['lm_order']}-gram of the training "
             f"transcripts (weight {summary['lm_weight']}, word bonus {summary['word_bonus']}). One CPU thread. "
             f"Load average at the start: {summary['load_start']} (2 cores shared with other work).", "",
             "| set | decoder | utterances | words | WER | sentence accuracy |", "| --- | --- | ---: | ---: | ---: | ---: |"]
    for row in summary["rows"]:
        lines.append(f"| {row['set']} | {row['decoder']} | {row['utterances']} | {row['words']} | "
                     f"{100 * row['wer']:.2f}% | {100 * row['sentence_accuracy']:.1f}% |")
    lines += ["", "Greedy WER per category of the grammar:", "",
              "| set | " + " | ".join(summary["categories"]) + " |",
              "| --- | " + " | ".join("---:" for _ in summary["categories"]) + " |"]
    for row in summary["rows"]:
        if row["decoder"] == "greedy":
            lines.append(f"| {row['set']} | " + " | ".join(
                f"{100 * row['per_category'][c]['wer']:.2f}%" if c in row["per_category"] else "-"
                for c in summary["categories"]) + " |")
    for title, table in (("voice", "per_voice"), ("background", "per_background")):
        for name, groups in summary[table].items():
            lines += ["", f"Greedy WER per {title} ({name}): " + ", ".join(
                f"{group} {100 * result['wer']:.1f}% ({result['utterances']})" for group, result in groups.items())
                + "."]
    if summary["dates"]:
        for name, result in summary["dates"].items():
            lines += ["", f"Spoken dates end to end ({name}): speech -> {result['decoder']} transcript -> date "
                          "SavedModel -> "
                          f"date exact on {100 * result['exact']:.1f}% of {result['clips']} clips that say a "
                          f"full date or a month and year (from the reference transcripts: "
                          f"{100 * result['exact_from_reference_text']:.1f}%)."]
    else:
        lines += ["", f"Spoken dates end to end: not measured ({summary['dates_note']})."]
    rtf = summary["rtf"]
    tflite = (f"TFLite acoustic model + NumPy greedy {rtf['tflite']:.4f} (input padded to "
              f"{rtf['tflite_input_seconds']:.1f} s; same text as the SavedModel on "
              f"{100 * rtf['tflite_agrees_with_saved_model']:.0f}% of the clips)" if "tflite" in rtf
              else f"TFLite failed: {rtf.get('tflite_error')}")
    lines += ["", f"Real-time factor on one thread over {rtf['audio_seconds']:.0f} s of test audio "
                  f"({rtf['clips']} clips): SavedModel `serving_default` {rtf['saved_model']:.4f}; {tflite}. "
                  f"Wall-clock timings on the shared machine: an upper bound.",
              "", f"Noise and silence through the SavedModel's `serving_default` ({summary['noise']['inputs']} "
                  f"inputs of 3 s: white noise from -50 to -20 dBFS RMS and digital silence): "
                  f"{summary['noise']['empty']} empty transcripts, confidence median "
                  f"{summary['noise']['median_confidence']:.2f}, max {summary['noise']['max_confidence']:.2f}.",
              "", f"Load average at the end: {summary['load']}; the bench took {summary['seconds']:.0f} s."]
    return "\n".join(lines)


def epochs_of(run):
    """(epochs whose weights these are, epochs the run's schedule planned)."""
    planned = json.loads((run.dir / "config.json").read_text()).get("epochs", "?")
    metrics_path, state_path = run.dir / "metrics.json", run.dir / "checkpoints" / "state.json"
    if metrics_path.exists() and "epochs_trained" in json.loads(metrics_path.read_text()):
        trained = json.loads(metrics_path.read_text())["epochs_trained"]
    elif state_path.exists():
        trained = json.loads(state_path.read_text()).get("epoch", "?")
    else:
        trained = "?"
    return trained, planned


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", default="runs/speech_recognition")
    parser.add_argument("--dates-model", default="", help="date-translation run (or its SavedModel) for the "
                                                          "end-to-end date figure")
    parser.add_argument("--num-test", type=int, default=300,
                        help="first N clips of the run's test split (0: all of them)")
    parser.add_argument("--num-other", type=int, default=300, help="other-engine utterances")
    parser.add_argument("--rtf-clips", type=int, default=50)
    parser.add_argument("--epochs-planned", default="", help="what to call the planned epochs in the text, "
                                                           "when the run was cut short (default: config.json's)")
    parser.add_argument("--wait-dates-model", type=float, default=0,
                        help="seconds to wait for --dates-model to appear (a run still training)")
    parser.add_argument("--results", default="", help="RESULTS.md to write the section to")
    parser.add_argument("--errors", default="", help="JSON file for every misrecognised utterance")
    args = parser.parse_args(argv)
    started = time.time()
    load_start = ", ".join(f"{x:.2f}" for x in os.getloadavg())

    import tensorflow as tf

    # One CPU thread for everything below, the timings included.
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)

    from data.other_engines import make_other_engine_spoken_clips
    from data.spoken_forms import make_spoken_clips
    from tasks.speech_recognition.evaluate import Transcriber

    run, config, model, lm = load_run(args.run)
    # The run's own test split (cached by training); its first clips are a smaller test set.
    test = make_spoken_clips("test", config.num_test_utterances, seed=config.seed, cache_dir=config.cache_dir or None)
    if args.num_test and args.num_test < len(test):
        test = test.subset(range(args.num_test))
    other = make_other_engine_spoken_clips(args.num_other, seed=config.seed)
    print(f"clips: {len(test)} eSpeak test ({test.seconds:.0f} s), {len(other)} other engines "
          f"({other.seconds:.0f} s)", flush=True)
    transcriber = Transcriber(model, config.beam_width, lm, config.lm_weight, config.word_bonus,
                              batch_size=config.batch_size)
    rows, dates, per_voice, per_background, errors = [], {}, {}, {}, {}
    dates_note, transcripts = "no --dates-model given", {}
    for name, clips in (("eSpeak, unseen variants", test), ("flite + festival", other)):
        set_rows, hypotheses, seconds = decoder_rows(transcriber, clips, name)
        rows += set_rows
        for row in set_rows:
            print(f"{name} {row['decoder']}: WER {100 * row['wer']:.2f}% sentence accuracy "
                  f"{100 * row['sentence_accuracy']:.1f}% ({row['utterances']} utterances)", flush=True)
        print(f"{name}: decoded in {seconds:.0f} s", flush=True)
        greedy = hypotheses["greedy"]
        if name == "flite + festival":
            per_voice[name] = grouped_wer(clips, greedy, lambda i: voice_name(clips.speakers[i]))
        per_background[name] = grouped_wer(clips, greedy, lambda i: clips.backgrounds[i])
        errors[name] = {decoder: errors_of(clips, texts) for decoder, texts in hypotheses.items()}
        # The dates go through the transcripts the run's SavedModel serves.
        decoder = config.serving_decoder if config.serving_decoder in hypotheses else "greedy"
        transcripts[name] = (clips, hypotheses[decoder], decoder)
    if args.errors:
        Path(args.errors).write_text(json.dumps(errors, indent=1))
    rtf = real_time_factor(run, model, test, args.rtf_clips, run.dir / "speech_recognition.tflite")
    rtf["clips"] = min(args.rtf_clips, len(test))
    print(f"real-time factor: {rtf}", flush=True)
    noise = noise_rows(run.saved_model_dir)
    print(f"noise/silence: {noise}", flush=True)
    # Last, so that a date model still being trained has the most time to appear.
    dates_ready = lambda: args.dates_model and Path(args.dates_model).exists()  # noqa: E731
    deadline = time.time() + args.wait_dates_model
    while args.dates_model and not dates_ready() and time.time() < deadline:
        time.sleep(30)
    if args.dates_model and not dates_ready():
        dates_note = f"no date model at {args.dates_model}"
    if dates_ready():
        for name, (clips, texts, decoder) in transcripts.items():
            dates[name] = date_end_to_end(args.dates_model, clips, texts)
            if dates[name]:
                dates[name]["decoder"] = decoder
            print(f"{name} dates end to end: {dates[name]}", flush=True)
    trained, planned = epochs_of(run)
    command = " ".join(["python bench/speech_recognition.py"] + list(argv if argv is not None else sys.argv[1:]))
    summary = {"rows": rows, "dates": {k: v for k, v in dates.items() if v}, "dates_note": dates_note,
               "rtf": rtf, "noise": noise, "per_voice": per_voice, "per_background": per_background,
               "categories": sorted({c for row in rows for c in row["per_category"]}),
               "command": f"python -m tasks.speech_recognition train --out RUN (config.json: model {config.model}, "
                          f"{config.num_train_utterances} utterances, {config.synthetic_voices} synthetic voices)",
               "bench_command": command, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started)),
               "parameters": model.count_params(), "beam_width": config.beam_width, "lm_order": config.lm_order,
               "lm_weight": config.lm_weight, "word_bonus": config.word_bonus,
               "epochs_trained": trained, "epochs_planned": args.epochs_planned or planned,
               "load_start": load_start, "load": ", ".join(f"{x:.2f}" for x in os.getloadavg()),
               "seconds": time.time() - started}
    section = format_section(summary)
    print(section)
    if args.results:
        write_section(args.results, section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
