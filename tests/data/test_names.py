"""The offline names and Hamlet corpora and their character pipelines."""

import numpy as np
import pytest

from data import names as corpora


def test_census_names_load_lowercase_and_distinct():
    names = corpora.load_names()
    # 4,275 female + 1,219 male lines, 331 names on both lists.
    assert len(names) == 5163
    assert names == sorted(set(names))
    assert all(name.isalpha() and name.islower() for name in names)
    assert {"mary", "james", "patricia", "john"} <= set(names)
    assert max(len(n) for n in names) == 11


def test_hamlet_loads_unchanged():
    text = corpora.load_hamlet()
    assert text.startswith("The Tragedy of Hamlet")
    assert len(text) == 175131 and "homepage" not in text
    assert "To be, or not to be" in text


def test_missing_package_gives_install_hint():
    with pytest.raises(FileNotFoundError, match="requirements-data.txt"):
        corpora.package_data_file("no-such-distribution-seqmodels", "x.txt")


def test_vocabulary_layout_and_round_trip():
    vocabulary = corpora.CharVocabulary.from_texts(["bca", "ab\n"])
    assert vocabulary.characters == ("", "\n", "a", "b", "c")
    assert (vocabulary.pad_id, vocabulary.boundary_id, vocabulary.size) == (0, 1, 5)
    assert vocabulary.encode("cab\n") == [4, 2, 3, 1]
    assert vocabulary.decode([0, 4, 2, 0]) == "ca"
    with pytest.raises(ValueError, match="outside the vocabulary"):
        vocabulary.encode("abz")


def test_names_arrays_shift_by_one_and_weight_padding():
    vocabulary = corpora.CharVocabulary.from_texts(["ann", "bo"])
    inputs, targets, weights = corpora.names_arrays(["ann", "bo"], vocabulary, max_length=4)
    a, n, b, o = (vocabulary.encode(c)[0] for c in "anbo")
    np.testing.assert_array_equal(inputs, [[1, a, n, n, 0], [1, b, o, 0, 0]])
    np.testing.assert_array_equal(targets, [[a, n, n, 1, 0], [b, o, 1, 0, 0]])
    np.testing.assert_array_equal(weights, [[1, 1, 1, 1, 0], [1, 1, 1, 0, 0]])
    with pytest.raises(ValueError, match="longer than max_length"):
        corpora.names_arrays(["annabel"], vocabulary, max_length=4)


def test_split_names_is_seeded_disjoint_and_complete():
    names = corpora.load_names()
    train, validation, test = corpora.split_names(names, 0.1, seed=3)
    assert len(validation) == len(test) == 516
    assert len(train) + len(validation) + len(test) == len(names)
    assert not (set(train) & set(validation)) and not (set(train) & set(test)) and not (set(validation) & set(test))
    assert corpora.split_names(names, 0.1, seed=3) == (train, validation, test)
    assert corpora.split_names(names, 0.1, seed=4)[1] != validation
    with pytest.raises(ValueError, match="holdout_fraction"):
        corpora.split_names(names, 0.6, seed=0)


def test_text_windows_and_contiguous_split():
    text = "abcdefghij" * 3
    train, validation, test = corpora.split_text(text, 0.2)
    assert train + validation + test == text and len(validation) == len(test) == 6
    vocabulary = corpora.CharVocabulary.from_texts([text])
    inputs, targets, weights = corpora.text_arrays(text, vocabulary, sequence_length=7)
    assert inputs.shape == targets.shape == (4, 7)
    assert vocabulary.decode(inputs[1]) == "hijabcd" and vocabulary.decode(targets[1]) == "ijabcde"
    assert weights.min() == 1.0
    with pytest.raises(ValueError, match="no window"):
        corpora.text_arrays("abc", vocabulary, sequence_length=7)


def test_dataset_is_batched_and_reproducible():
    arrays = (np.arange(20).reshape(10, 2), np.arange(20).reshape(10, 2), np.ones((10, 2), np.float32))
    first = [b[0].numpy() for b in corpora.make_dataset(arrays, 4, shuffle=True, seed=1)]
    again = [b[0].numpy() for b in corpora.make_dataset(arrays, 4, shuffle=True, seed=1)]
    assert [len(b) for b in first] == [4, 4, 2]
    assert all((a == b).all() for a, b in zip(first, again))
    assert sorted(np.concatenate(first)[:, 0]) == list(range(0, 20, 2))
