"""Where generated word banks and clips are kept, and the one function that names a cache entry.

Every entry's name ends in :func:`cache_key` of the options that made it,
computed from the options object itself, so an option cannot change the audio
without changing the key. Clips' options hold their word bank's options, so
a clip key changes whenever its bank's key does.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path

# Bump whenever generation changes so stale caches are not reused.
GENERATOR_VERSION = 2


def default_cache_dir() -> Path:
    root = os.environ.get("SEQMODELS_CACHE", os.path.join(Path.home(), ".cache", "seqmodels"))
    return Path(root) / "trigger_word"


def cache_fields(options) -> dict:
    """The generator version and every field of the ``options`` dataclass, nested options flattened.

    A field whose metadata has ``cache_key_omits`` is left out at that value:
    options added after entries were written keep those entries valid at
    their default.
    """
    fields = {"version": GENERATOR_VERSION}
    for field in dataclasses.fields(options):
        value = getattr(options, field.name)
        if dataclasses.is_dataclass(value):
            nested = cache_fields(value)
        elif "cache_key_omits" in field.metadata and value == field.metadata["cache_key_omits"]:
            continue
        else:
            nested = {field.name: list(value) if isinstance(value, tuple) else value}
        clashes = (set(nested) & set(fields)) - {"version"}
        if clashes:
            raise ValueError(f"Options {sorted(clashes)} appear twice in {type(options).__name__}")
        fields.update(nested)
    return fields


def cache_key(options) -> str:
    """16 hex digits naming the cache entry of ``options``; every cache read and write uses it."""
    return hashlib.sha1(json.dumps(cache_fields(options), sort_keys=True).encode()).hexdigest()[:16]


def write_atomically(path: Path, write) -> None:
    """``write(temporary)`` then rename onto ``path``: a killed run leaves no half file.

    The temporary name is per process (two runs may fill one cache entry at
    once) and keeps the suffix (``np.save`` would append ``.npy`` otherwise).
    """
    temporary = path.with_name(f"{path.stem}.tmp-{os.getpid()}{path.suffix}")
    write(temporary)
    os.replace(temporary, path)


class ClipCache:
    """A cache directory for word banks and clips, and the word banks already in memory.

    Args:
        cache_dir: the directory; ``None`` or ``""`` means
            ``~/.cache/seqmodels/trigger_word`` (or ``$SEQMODELS_CACHE/trigger_word``),
            ``False`` means nothing is written to disk.

    Calls that share one ``ClipCache`` read or synthesise each word bank once
    (a split's clips and its negative-only clips share their bank).
    """

    def __init__(self, cache_dir=None):
        if cache_dir is False:
            self.directory = None
        else:
            self.directory = Path(cache_dir) if cache_dir else default_cache_dir()
        self.word_banks: dict = {}  # options -> WordBank

    def path(self, name: str, options, suffix: str = "") -> Path | None:
        """The entry ``<name>-<cache_key(options)><suffix>``; ``None`` when nothing is written."""
        if self.directory is None:
            return None
        return self.directory / f"{name}-{cache_key(options)}{suffix}"
