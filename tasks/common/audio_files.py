"""Reading audio files for the command-line tools: any format, rate and channel count, in bounded memory."""

import json
import sys
from pathlib import Path

import numpy as np


class AudioError(Exception):
    """A file that cannot be used as audio."""


def first_line(error):
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:200]


def read_blocks(path, block_seconds, sample_rate=16000):
    """Yields mono float32 blocks of ``path`` at ``sample_rate``, resampled in a stream."""
    import soundfile
    import soxr

    try:
        handle = soundfile.SoundFile(str(path))
    except Exception as error:  # soundfile raises several types for bad input
        raise AudioError(f"not a readable audio file ({first_line(error)})") from None
    with handle:
        if handle.frames == 0:
            raise AudioError("empty audio (0 samples)")
        resampler = None
        if handle.samplerate != sample_rate:
            resampler = soxr.ResampleStream(handle.samplerate, sample_rate, 1, dtype="float32")
        block_frames = max(1, int(block_seconds * handle.samplerate))
        total = 0
        while True:
            try:
                block = handle.read(block_frames, dtype="float32", always_2d=True)
            except Exception as error:
                raise AudioError(f"corrupt or truncated audio after {total / handle.samplerate:.1f} s "
                                 f"({first_line(error)})") from None
            last = len(block) < block_frames
            total += len(block)
            mono = block.mean(axis=1).astype(np.float32) if len(block) else np.zeros(0, np.float32)
            if resampler is not None:
                mono = resampler.resample_chunk(mono, last=last)
            if len(mono):
                yield mono
            if last:
                break
        if total == 0:
            raise AudioError("empty audio (no samples could be read)")


def output_path(template, source, many):
    """Where a per-file output goes: ``template`` for one input, ``<stem>_<input stem><suffix>`` for several."""
    template = Path(template)
    if not many:
        return template
    return template.with_name(f"{template.stem}_{Path(source).stem}{template.suffix}")


def for_each_file(paths, process, describe, as_json):
    """Runs ``process(path)`` on each file and prints its answers; returns the command's exit status.

    A file that raises :class:`AudioError` gets ``error: PATH: reason`` on stderr and the other
    files are still processed; the status is then 1. Answers are printed one line a file,
    ``PATH: describe(answer)``, or with ``as_json`` as one JSON object mapping path to answer.
    """
    results, failures = {}, 0
    for path in paths:
        try:
            result = process(path)
        except AudioError as error:
            failures += 1
            print(f"error: {path}: {error}", file=sys.stderr, flush=True)
            continue
        results[path] = result
        if not as_json:
            print(f"{path}: {describe(result)}", flush=True)
    if as_json:
        print(json.dumps(results))
    return 1 if failures else 0
