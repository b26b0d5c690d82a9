"""eSpeak NG speech of many utterances, in fresh processes of fixed chunks.

eSpeak NG keeps a little global state between calls (the level of the last
voice variant, its noise generator) that ``espeak_Terminate`` does not reset,
and initialises once per process (see :class:`data.trigger_word.EspeakEngine`).
So utterances are synthesised in child processes, ``CHUNK_SIZE`` at a time
from fixed boundaries (utterance ``i`` is in chunk ``i // CHUNK_SIZE``): the
audio of an utterance is the same whatever the caller synthesised before, and
whatever the number of utterances asked for or of worker processes run.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from data.trigger_word import EspeakEngine, Speaker

CHUNK_SIZE = 200


def speech_text(transcript: str) -> str:
    """What eSpeak NG is asked to say for a normalised transcript.

    ``o clock`` is given its apostrophe back: eSpeak says a lone ``o`` as the
    letter ("oh clock") but ``o'clock`` as people do ("uh clock").
    """
    return f" {transcript} ".replace(" o clock ", " o'clock ").strip()


def synthesize_chunk(engine: EspeakEngine, texts, speakers) -> list[np.ndarray]:
    """Each transcript said by its speaker: float32 16 kHz audio, silence trimmed."""
    return [engine.synthesize(speech_text(text), speaker) for text, speaker in zip(texts, speakers)]


def synthesize_in_fresh_processes(texts, speakers, data_path=None, workers: int | None = None,
                                  verbose: bool = False, label: str = "") -> list[np.ndarray]:
    """:func:`synthesize_chunk` of every ``CHUNK_SIZE`` utterances in its own Python process.

    Args:
        texts: normalised transcripts.
        speakers: one :class:`Speaker` per transcript.
        data_path: eSpeak NG's data directory (generated voice variants need
            the copy made by :func:`data.trigger_word.voice_data_with_variants`).
        workers: child processes run at once (default: the CPU count, at most 4).
        verbose: print progress as chunks finish.
    """
    if len(texts) != len(speakers):
        raise ValueError(f"One speaker per text: {len(texts)} texts, {len(speakers)} speakers")
    workers = workers or min(4, os.cpu_count() or 1)
    bounds = [(start, min(start + CHUNK_SIZE, len(texts)))
              for start in range(0, len(texts), CHUNK_SIZE)]
    results: list = [None] * len(bounds)
    started = time.time()
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(_run_child, list(texts[a:b]), list(speakers[a:b]), data_path): index
                   for index, (a, b) in enumerate(bounds)}
        for future in concurrent.futures.as_completed(futures):
            results[futures[future]] = future.result()
            if verbose:
                finished = sum(b - a for (a, b), r in zip(bounds, results) if r is not None)
                print(f"  {label}: synthesised {finished}/{len(texts)} utterances "
                      f"({time.time() - started:.0f} s)", flush=True)
    return [audio for chunk in results for audio in chunk]


def _run_child(texts, speakers, data_path) -> list[np.ndarray]:
    request = dict(texts=texts, speakers=[dataclasses.asdict(s) for s in speakers],
                   data_path=data_path)
    root = str(Path(__file__).resolve().parents[2])
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [root] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "speech.npz"
        result = subprocess.run(
            [sys.executable, "-c",
             "from data.spoken_forms.speech import _speech_worker; _speech_worker()", str(path)],
            input=json.dumps(request), text=True, capture_output=True, env=environment, cwd=root)
        if result.returncode != 0:
            raise RuntimeError(f"Speech synthesis failed:\n{result.stderr[-2000:]}")
        stored = np.load(path)
        audio, offsets = stored["audio"], stored["offsets"]
        return [audio[offsets[i]:offsets[i + 1]].copy() for i in range(len(offsets) - 1)]


def _speech_worker():
    """Entry point of the child process: request JSON on stdin, audio to argv[1]."""
    request = json.loads(sys.stdin.read())
    engine = EspeakEngine(request.get("data_path"))
    speakers = [Speaker(**s) for s in request["speakers"]]
    pieces = synthesize_chunk(engine, request["texts"], speakers)
    offsets = np.cumsum([0] + [len(a) for a in pieces])
    np.savez(sys.argv[1], audio=np.concatenate(pieces) if pieces else np.zeros(0, np.float32),
             offsets=offsets)
