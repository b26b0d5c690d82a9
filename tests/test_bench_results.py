"""bench/results_file.py: a bench rewrites only its figures and keeps the notes written around them."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.results_file import markers, write_marked_section  # noqa: E402


def test_two_benches_rewrite_their_own_figures_and_keep_the_notes(tmp_path):
    path = tmp_path / "RESULTS.md"
    one, cv = markers("bench/sentiment.py"), markers("bench/sentiment.py folds")
    path.write_text("# Benchmark results\n\n## Sentiment\n\n" + one[0] + "\nold table\n" + one[1]
                    + "\n\nAnalysis of the split.\n\n## Sentiment: 10-fold cross-validation\n\n" + cv[0]
                    + "\nold folds\n" + cv[1] + "\n\n### Notes\n\nWhy fold 3 is low.\n\n## Speech\n\nkeep\n")
    write_marked_section(path, "## Sentiment: 10-fold cross-validation", "new folds\n", "bench/sentiment.py folds")
    text = path.read_text()
    assert "old folds" not in text and f"{cv[0]}\nnew folds\n{cv[1]}" in text
    assert "old table" in text and "Why fold 3 is low." in text and "Analysis of the split." in text
    write_marked_section(path, "## Sentiment", "new table", "bench/sentiment.py")
    again = path.read_text()
    assert "old table" not in again and again.count(one[0]) == 1 and "new folds" in again
    assert again.replace("new table", "old table") == text
    # The heading "## Sentiment" is not mistaken for the start of "## Sentiment: 10-fold ...".
    assert again.index("new table") < again.index("## Sentiment: 10-fold")


def test_a_section_without_markers_keeps_all_but_its_first_paragraph(tmp_path):
    path = tmp_path / "RESULTS.md"
    path.write_text("# Benchmark results\n\n## Dates\n\nNot yet measured.\n\nNotes stay.\n")
    write_marked_section(path, "## Dates", "figures", "bench/date_parsing.py")
    begin, end = markers("bench/date_parsing.py")
    assert path.read_text() == f"# Benchmark results\n\n## Dates\n\n{begin}\nfigures\n{end}\n\nNotes stay.\n"
    write_marked_section(path, "## Other", "more", "bench/other.py")
    assert path.read_text().endswith("## Other\n\n<!-- BEGIN bench/other.py -->\nmore\n<!-- END bench/other.py -->\n")
