"""Dates in the wild: every way software and people write a date (and its time), or "not a date".

* ``targets``: the answer format (``Answer``: ``date``, ``time``, ``utc_offset``,
  ``iso``) and the rule that reads ambiguous numeric dates under an ``order``.
* ``generator``: the seeded, split-aware training/validation/test generator, built
  from ``grammar`` (the date families), ``times`` (times of day, the zone table),
  ``numbers_in_words``, ``not_dates`` and ``noise``.
* Independent evaluation sets, kept apart from the generator's code paths:
  ``writers`` (strings written by other software: Python's ``email.utils``,
  ``time``, ``datetime``, strftime formats of common programs, Babel, the
  ``date`` command) and ``hand_collected`` (``hand_collected.tsv``, real-world
  strings written by hand with their answers).
"""
