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

import collections
import concurrent.futures
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from data.trigger_word import EspeakEngine, Speaker
from data.trigger_word.fresh_process import worker_output

CHUNK_SIZE = 200


def speech_text(transcript: str) -> str:
    """What a speech engine is asked to say for a normalised transcript.

    ``o clock`` gets its apostrophe back and ``a m`` / ``p m`` their dot:
    eSpeak NG says a lone ``o`` as the letter ("oh clock") and a lone ``a``
    as the article ("uh em"), but ``o'clock`` and ``a.m`` as people do.
    """
    text = f" {transcript} "
    for said, written in ((" o clock ", " o'clock "), (" a m ", " a.m "), (" p m ", " p.m ")):
        text = text.replace(said, written)
    return text.strip()


def synthesize_chunk(engine: EspeakEngine, texts, speakers) -> list[np.ndarray]:
    """Each transcript said by its speaker: float32 16 kHz audio, silence trimmed."""
    return [engine.synthesize(speech_text(text), speaker) for text, speaker in zip(texts, speakers)]


def synthesize_in_fresh_processes(texts, speakers, data_path=None, workers: int | None = None,
                                  verbose: bool = False, label: str = "") -> list[np.ndarray]:
    """Every utterance of :func:`iter_synthesized_chunks`, in one list."""
    return [audio for chunk in iter_synthesized_chunks(texts, speakers, data_path, workers,
                                                       verbose, label)
            for audio in chunk]


def iter_synthesized_chunks(texts, speakers, data_path=None, workers: int | None = None,
                            verbose: bool = False, label: str = ""):
    """:func:`synthesize_chunk` of every ``CHUNK_SIZE`` utterances in its own Python process.

    Yields the chunks' audio lists in order, while at most ``workers``
    chunks are being made or wait to be taken, so memory stays bounded
    however many utterances are asked for.

    Args:
        texts: normalised transcripts.
        speakers: one :class:`Speaker` per transcript.
        data_path: eSpeak NG's data directory (generated voice variants need
            the copy made by :func:`data.trigger_word.voice_data_with_variants`).
        workers: child processes run at once (default: the CPU count, at most 4).
        verbose: print progress as chunks finish.
        label: the name progress lines start with.
    """
    if len(texts) != len(speakers):
        raise ValueError(f"One speaker per text: {len(texts)} texts, {len(speakers)} speakers")
    workers = workers or min(4, os.cpu_count() or 1)
    bounds = [(start, min(start + CHUNK_SIZE, len(texts)))
              for start in range(0, len(texts), CHUNK_SIZE)]
    started = time.time()
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        pending = collections.deque()  # (end, future) of the chunks submitted, in order

        def submit(index):
            a, b = bounds[index]
            pending.append((b, pool.submit(_run_child, list(texts[a:b]), list(speakers[a:b]),
                                           data_path)))

        for index in range(min(workers, len(bounds))):
            submit(index)
        submitted = len(pending)
        while pending:
            end, future = pending.popleft()
            chunk = future.result()
            if submitted < len(bounds):
                submit(submitted)
                submitted += 1
            if verbose:
                print(f"  {label}: synthesised {end}/{len(texts)} utterances "
                      f"({time.time() - started:.0f} s)", flush=True)
            yield chunk


def _run_child(texts, speakers, data_path) -> list[np.ndarray]:
    request = dict(texts=texts, speakers=[dataclasses.asdict(s) for s in speakers],
                   data_path=data_path)
    with worker_output("data.spoken_forms.speech:_speech_worker", request, "speech.npz",
                       "Speech synthesis") as path:
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
