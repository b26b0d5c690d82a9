"""Writing a bench script's figures into its part of bench/RESULTS.md.

A section of RESULTS.md holds the figures a script writes, between the
script's own markers, and the notes people wrote around them (analyses,
figures behind the defaults). A rerun replaces what is between the markers
and nothing else.
"""

from __future__ import annotations

from pathlib import Path


def markers(owner):
    """The HTML comments that fence ``owner``'s figures (invisible when the Markdown is rendered)."""
    return f"<!-- BEGIN {owner} -->", f"<!-- END {owner} -->"


def write_marked_section(path, heading, body, owner):
    """Puts ``body`` between ``owner``'s markers in the section of ``path`` that starts with ``heading``.

    A section without the markers gets them in place of its first paragraph (a
    "not yet measured" note); the rest of the section is kept. A file without
    the section gets it appended.
    """
    begin, end_marker = markers(owner)
    path = Path(path)
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    block = f"{begin}\n{body.strip()}\n{end_marker}"
    start = text.find("\n" + heading + "\n")
    if start < 0:
        path.write_text(text.rstrip() + "\n\n" + heading + "\n\n" + block + "\n")
        return
    end = text.find("\n## ", start + len(heading) + 2)
    end = len(text) if end < 0 else end
    section = text[start:end]
    if begin in section and end_marker in section:
        head, _, rest = section.partition(begin)
        section = head + block + rest.partition(end_marker)[2]
    else:
        heading_end = section.find("\n\n", len(heading) + 1)
        first_paragraph_end = section.find("\n\n", heading_end + 2)
        tail = section[first_paragraph_end:] if first_paragraph_end >= 0 else "\n"
        section = section[:heading_end] + "\n\n" + block + tail
    path.write_text(text[:start] + section + text[end:])
