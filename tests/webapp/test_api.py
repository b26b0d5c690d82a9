"""The JSON API against untrained runs: every answer checked against the SavedModel called directly."""

import asyncio
import functools
import io
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile
import tensorflow as tf

from tasks.date_translation import data as date_data
from webapp.adapters import check_order
from webapp.batching import MicroBatcher, QueueFull

# Every test here serves the untrained runs of every task, exported once a session.
pytestmark = pytest.mark.e2e


@functools.lru_cache(maxsize=None)  # a SavedModel load costs seconds; the references are loaded once a session
def saved_model(runs_dir, task):
    return tf.saved_model.load(str(runs_dir / task / "saved_model"))


def wav_bytes(waveform, rate=16000, channels=1, subtype="FLOAT"):
    data = np.stack([waveform] * channels, axis=1) if channels > 1 else waveform
    buffer = io.BytesIO()
    soundfile.write(buffer, data, rate, format="WAV", subtype=subtype)
    return buffer.getvalue()


# -- dates ----------------------------------------------------------------------------------------

DATE_TEXTS = ["Saturday, May 9, 2018", "3rd of march 1979", "12.05.07", "05/03/1979", "the 1st of June 2001"]


def test_dates_match_the_saved_model(client, runs_dir):
    reference = saved_model(runs_dir, "date_translation").signatures["serving_default"](text=tf.constant(DATE_TEXTS))
    response = client.post("/api/date_translation", json={"texts": DATE_TEXTS})
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["iso"] for r in results] == [d.decode() for d in reference["iso"].numpy()]
    np.testing.assert_allclose([r["confidence"] for r in results], reference["confidence"].numpy(), atol=1e-4)
    # One text gives the same answer as the same text inside a batch.
    single = client.post("/api/date_translation", json={"text": DATE_TEXTS[1]}).json()["results"][0]
    assert single["iso"] == results[1]["iso"]


def test_dates_attention_covers_the_order_token_and_the_normalised_input(client):
    text = "  3rd of MARCH,  1979 "
    data = client.post("/api/date_translation", json={"text": text, "order": "dmy", "attention": True}).json()
    attention = data["attention"]
    assert attention["input"] == ["DMY"] + list(date_data.normalized(text))
    assert len(attention["output"]) == date_data.OUTPUT_LENGTH
    assert all(c in date_data.OUTPUT_CHARACTERS for c in attention["output"])
    # The answer the heat map explains is the one the API returned.
    answer = date_data.answers_of(np.array([[date_data.OUTPUT_CHARACTERS.index(c) for c in attention["output"]]]))[0]
    assert answer.iso == data["results"][0]["iso"]
    weights = np.array(attention["weights"])
    assert weights.shape == (date_data.OUTPUT_LENGTH, 1 + len(date_data.normalized(text)))
    # Each output character's attention is a distribution over the order token and input characters.
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=2e-3)
    assert (weights >= 0).all()


def test_order_names_are_checked_and_upper_cased():
    assert check_order("dmy") == "DMY" and check_order(" YMD ") == "YMD"
    with pytest.raises(ValueError, match="order"):
        check_order("auto")


@pytest.mark.parametrize("order", ["MDY", "DMY", "YMD"])
def test_dates_order_reaches_the_model(client, runs_dir, order):
    reference = saved_model(runs_dir, "date_translation").signatures["with_order"](
        text=tf.constant(["05/03/1979", "12.05.07"]), order=tf.constant([order, order]))["iso"].numpy()
    results = client.post("/api/date_translation",
                          json={"texts": ["05/03/1979", "12.05.07"], "order": order.lower()}).json()["results"]
    assert [r["iso"] for r in results] == [iso.decode() for iso in reference]


def test_an_unknown_order_is_a_400(client):
    response = client.post("/api/date_translation", json={"text": "05/03/1979", "order": "xyz"})
    assert response.status_code == 400 and "order" in response.json()["error"]


def test_concurrent_dates_requests_are_batched_and_answered_correctly(app, client):
    import httpx

    texts = [f"{day} march 19{day + 50}" for day in range(1, 29)] * 2
    expected = {t: client.post("/api/date_translation", json={"text": t}).json()["results"][0]["iso"] for t in texts}
    batcher = app.state.batchers["date_translation"]

    async def many():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            responses = await asyncio.gather(*[http.post("/api/date_translation", json={"text": t}) for t in texts])
        return [r.json()["results"][0]["iso"] for r in responses]

    calls_before = batcher.calls
    answers = asyncio.run(many())
    assert answers == [expected[t] for t in texts]
    assert batcher.calls - calls_before < len(texts)  # several requests shared a model call


# -- the micro-batcher alone ----------------------------------------------------------------------

def test_micro_batcher_groups_keeps_order_and_survives_a_failing_batch():
    sizes = []

    def square(items):
        sizes.append(len(items))
        if any(item < 0 for item in items):
            raise ValueError("negative")
        return [item * item for item in items]

    async def scenario():
        batcher = MicroBatcher(square, max_batch=8, max_wait_seconds=0.01)
        results = await asyncio.gather(*[batcher.submit([i, i + 100]) for i in range(10)])
        with pytest.raises(ValueError, match="negative"):
            await batcher.submit([-1])
        after = await batcher.submit([3])
        batcher.max_pending = 1
        with pytest.raises(QueueFull):
            await batcher.submit([1, 2])
        batcher.close()
        return results, after

    results, after = asyncio.run(scenario())
    assert results == [[i * i, (i + 100) ** 2] for i in range(10)]
    assert after == [9]
    assert max(sizes) <= 8 + 1  # a batch closes once it holds max_batch items
    assert len(sizes) < 10 + 2  # the ten requests did not each get a call of their own
    with pytest.raises(ValueError):
        MicroBatcher(square, max_batch=0)


def test_a_full_queue_answers_429(app, client):
    batcher = app.state.batchers["sentiment"]
    saved, batcher.max_pending = batcher.max_pending, 0
    try:
        response = client.post("/api/sentiment", json={"text": "fine"})
    finally:
        batcher.max_pending = saved
    assert response.status_code == 429 and "busy" in response.json()["error"]
    assert client.post("/api/sentiment", json={"text": "fine"}).status_code == 200


# -- sentiment ------------------------------------------------------------------------------------

def test_sentiment_label_and_word_pushes_match_the_saved_model(client, runs_dir):
    text = "a gorgeous witty film with a dull plot"
    serve = saved_model(runs_dir, "sentiment").signatures["serving_default"]
    words = text.split()
    variants = [" ".join(words[:i] + words[i + 1:]) for i in range(len(words))]
    full = serve(text=tf.constant([text]))["probabilities"].numpy()[0]
    occluded = serve(text=tf.constant(variants))["probabilities"].numpy()
    data = client.post("/api/sentiment", json={"text": text}).json()
    label = int(np.argmax(full))
    assert data["label"] == ["negative", "positive"][label]
    assert data["probability"] == pytest.approx(full[label], abs=1e-4)
    assert [w["word"] for w in data["words"]] == words
    np.testing.assert_allclose([w["push"] for w in data["words"]], full[label] - occluded[:, label], atol=2e-4)


# -- trigger word ---------------------------------------------------------------------------------

def test_trigger_word_upload_matches_the_saved_model_and_finds_the_word(client, runs_dir, clip):
    waveform, start, end = clip
    reference = saved_model(runs_dir, "trigger_word").signatures["serving_default"](waveform=waveform[None])
    response = client.post("/api/trigger_word", files={"file": ("clip.wav", wav_bytes(waveform), "audio/wav")})
    assert response.status_code == 200
    data = response.json()
    np.testing.assert_allclose(data["probabilities"], reference["probabilities"].numpy()[0], atol=2e-4)
    expected = [t for t in reference["detections"].numpy()[0] if t >= 0]
    np.testing.assert_allclose(data["detections"], expected, atol=1e-6)
    assert len(data["detections"]) == 1 and start <= data["detections"][0] <= end + 0.3
    assert len(data["spectrogram"]["values"]) > 10 and data["duration"] == pytest.approx(len(waveform) / 16000)


def test_trigger_word_reads_stereo_at_another_rate(client, clip):
    from scipy.signal import resample_poly

    waveform, start, end = clip
    resampled = resample_poly(waveform, 441, 160).astype(np.float32)
    data = client.post("/api/trigger_word", files={"file": ("x.wav", wav_bytes(resampled, 44100, 2, "PCM_16"),
                                                            "audio/wav")}).json()
    assert data["duration"] == pytest.approx(len(waveform) / 16000, abs=0.01)
    # The model hears the same word after the round trip through 44.1 kHz stereo.
    assert len(data["detections"]) == 1 and start <= data["detections"][0] <= end + 0.3


@pytest.mark.parametrize("content,status", [
    (b"this is not audio at all" * 10, 415),
    (b"", 400),
    (b"RIFF" + b"\0" * 11_000_000, 413),
])
def test_trigger_word_refuses_bad_uploads(client, content, status):
    response = client.post("/api/trigger_word", files={"file": ("/etc/passwd", content, "audio/wav")})
    assert response.status_code == status and response.json()["error"]


def test_trigger_word_refuses_audio_over_a_minute(client):
    response = client.post("/api/trigger_word", files={"file": ("x.wav", wav_bytes(np.zeros(61 * 8000, np.float32), 8000),
                                                                 "audio/wav")})
    assert response.status_code == 413 and "limit" in response.json()["error"]


def test_live_stream_gives_the_offline_detections_with_their_delay(client, runs_dir, clip):
    waveform = clip[0]
    offline = client.post("/api/trigger_word", files={"file": ("c.wav", wav_bytes(waveform), "audio/wav")}).json()
    streamed, detections = [], []
    with client.websocket_connect("/api/trigger_word/stream") as socket:
        assert socket.receive_json()["type"] == "ready"
        socket.send_text("not audio")
        assert "binary" in socket.receive_json()["error"]
        socket.send_bytes(b"\0\0\0")  # not whole float32 samples
        assert "float32" in socket.receive_json()["error"]
        for start in range(0, len(waveform), 2000):  # chunks that are not whole frames
            socket.send_bytes(waveform[start:start + 2000].astype("<f4").tobytes())
            message = socket.receive_json()
            streamed.extend(message["probabilities"])
            detections.extend(message["detections"])
    frames = len(waveform) // 640
    np.testing.assert_allclose(streamed, offline["probabilities"][:frames], atol=1e-4)
    assert [d["time"] for d in detections] == pytest.approx(offline["detections"], abs=1e-3)
    assert all(0 <= d["delay"] < 0.5 for d in detections)


# -- speech recognition ---------------------------------------------------------------------------

def test_speech_transcript_posteriors_and_date_match_the_saved_models(client, runs_dir, spoken_date):
    waveform = spoken_date[0]
    recogniser = saved_model(runs_dir, "speech_recognition")
    dates = saved_model(runs_dir, "date_translation").signatures["with_order"]
    for decoder, signature in (("default", "serving_default"), ("greedy", "greedy"), ("beam", "beam")):
        reference = recogniser.signatures[signature](waveform=waveform)
        response = client.post("/api/speech_recognition", data={"decoder": decoder, "order": "dmy"},
                               files={"file": ("date.wav", wav_bytes(waveform), "audio/wav")})
        assert response.status_code == 200, response.text
        data = response.json()
        text = reference["text"].numpy().decode()
        assert text and data["text"] == text and data["decoder"] == decoder
        assert data["serving_decoder"] == recogniser.serving_decoder.numpy().decode()
        assert data["confidence"] == pytest.approx(float(reference["confidence"]), abs=1e-4)
        # The transcript goes on through the date model, in the order asked for.
        iso = dates(text=tf.constant([text]), order=tf.constant(["DMY"]))
        assert data["date"]["iso"] == iso["iso"].numpy()[0].decode() and data["date"]["order"] == "DMY"
        assert data["date"]["confidence"] == pytest.approx(float(iso["confidence"].numpy()[0]), abs=1e-4)
    posteriors = np.exp(recogniser.signatures["posteriors"](waveform=waveform)["log_probs"].numpy())
    np.testing.assert_allclose(data["posteriors"], posteriors, atol=1e-3)
    # One frame per frame_seconds of audio (the run's own), each a distribution over the blank and 27 characters.
    hop = round(data["frame_seconds"] * 16000)
    assert hop == round(float(recogniser.frame_seconds.numpy()) * 16000)
    assert len(data["posteriors"]) == -(-len(waveform) // hop) and len(data["classes"]) == 28
    assert data["classes"][:3] == ["blank", " ", "a"]
    np.testing.assert_allclose(np.sum(data["posteriors"], axis=1), 1.0, atol=0.02)
    assert len(data["spectrogram"]["values"]) > 10 and data["duration"] == pytest.approx(len(waveform) / 16000)


def test_speech_silence_gives_no_text_and_no_date(client):
    data = client.post("/api/speech_recognition",
                       files={"file": ("quiet.wav", wav_bytes(np.zeros(16000, np.float32)), "audio/wav")}).json()
    assert data["text"] == "" and data["confidence"] == 0.0
    assert "date" not in data and "nothing was recognised" in data["date_note"]


def test_speech_without_the_dates_page_still_transcribes(app, runs_dir, spoken_date):
    from fastapi.testclient import TestClient

    from webapp.app import create_app

    adapters = {"speech_recognition": app.state.adapters["speech_recognition"], "date_translation": "off for a test"}
    with TestClient(create_app(runs_dir, adapters=adapters, warmup=False)) as alone:
        response = alone.post("/api/speech_recognition",
                              files={"file": ("date.wav", wav_bytes(spoken_date[0]), "audio/wav")})
    assert response.status_code == 200 and response.json()["text"]
    assert "date" not in response.json() and "dates page is off" in response.json()["date_note"]


@pytest.mark.parametrize("content,fields,status", [
    (b"this is not audio at all" * 10, {}, 415),
    (b"", {}, 400),
    (b"RIFF" + b"\0" * 11_000_000, {}, 413),
    (None, {"decoder": "viterbi"}, 400),
    (None, {"decoder": "beam_lexicon"}, 400),  # the test run has no language model to hold words to
    (None, {"order": "auto"}, 400),
])
def test_speech_refuses_bad_uploads_and_settings(client, content, fields, status):
    content = wav_bytes(np.zeros(1600, np.float32)) if content is None else content
    response = client.post("/api/speech_recognition", data=fields,
                           files={"file": ("/etc/passwd", content, "audio/wav")})
    assert response.status_code == status and response.json()["error"]


# -- text generation ------------------------------------------------------------------------------

def test_generation_matches_the_saved_model_and_repeats_with_a_seed(client, runs_dir):
    body = {"prefix": "ma", "temperature": 0.9, "top_k": 5, "top_p": 0.9, "num_samples": 3, "seed": 7}
    first = client.post("/api/text_generation", json=body).json()
    assert first == client.post("/api/text_generation", json=body).json()
    reference = saved_model(runs_dir, "text_generation").signatures["generate"](
        prompt=tf.constant(["ma"] * 3), temperature=tf.constant(0.9), top_k=tf.constant(5), top_p=tf.constant(0.9),
        seed=tf.constant([7, 0], tf.int64))["text"].numpy()
    assert first["samples"] == [t.decode() for t in reference]
    assert all(s.startswith("ma") for s in first["samples"])


@pytest.mark.parametrize("change", [{"temperature": -1}, {"top_p": 0}, {"top_k": -2}, {"num_samples": 50},
                                    {"prefix": "x" * 500}, {"seed": -3}])
def test_generation_refuses_bad_settings(client, change):
    response = client.post("/api/text_generation", json={"prefix": "a", **change})
    assert 400 <= response.status_code < 500 and response.json()["error"]


# -- word embeddings ------------------------------------------------------------------------------

def embedding_matrix(runs_dir):
    loaded = saved_model(runs_dir, "word_embeddings")
    words = [w.decode() for w in loaded.words.numpy()]
    return words, loaded.matrix.numpy()


def test_neighbours_are_the_nearest_by_cosine(client, runs_dir):
    words, matrix = embedding_matrix(runs_dir)
    unit = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
    data = client.post("/api/word_embeddings/neighbours", json={"words": ["King", "nonword"]}).json()["results"]
    scores = unit @ unit[words.index("king")]
    scores[words.index("king")] = -np.inf
    expected = [words[i] for i in np.argsort(-scores)[:5]]
    assert [n["word"] for n in data[0]["neighbours"][:5]] == expected
    assert data[1] == {"word": "nonword", "known": False, "neighbours": []}


def test_analogy_is_3cosadd_without_the_query_words(client, runs_dir):
    words, matrix = embedding_matrix(runs_dir)
    unit = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
    a, b, c = (words.index(w) for w in ("man", "king", "woman"))
    target = unit[b] - unit[a] + unit[c]
    scores = unit @ target
    scores[[a, b, c]] = -np.inf
    data = client.post("/api/word_embeddings/analogy", json={"a": "man", "b": "king", "c": "woman"}).json()
    assert data["answers"][0]["word"] == words[int(np.argmax(scores))]
    assert client.post("/api/word_embeddings/analogy", json={"a": "man", "b": "zzz", "c": "woman"}).status_code == 400


def test_projection_of_three_words_keeps_their_distances(client, runs_dir):
    words, matrix = embedding_matrix(runs_dir)
    chosen = ["paris", "france", "dog"]
    data = client.post("/api/word_embeddings/project", json={"words": chosen + ["nonword"]}).json()
    assert data["unknown"] == ["nonword"]
    points = np.array([[p["x"], p["y"]] for p in data["points"]])
    vectors = matrix[[words.index(w) for w in chosen]]
    # Three points span a plane, so a 2-D PCA keeps every pairwise distance.
    for i, j in ((0, 1), (0, 2), (1, 2)):
        assert np.linalg.norm(points[i] - points[j]) == pytest.approx(np.linalg.norm(vectors[i] - vectors[j]), rel=1e-4)


# -- bad input, limits and unknown names ----------------------------------------------------------

@pytest.mark.parametrize("path,body,status", [
    ("/api/sentiment", {"text": ""}, 400),
    ("/api/sentiment", {"text": "   "}, 400),
    ("/api/sentiment", {"text": "good " * 1000}, 413),
    ("/api/sentiment", {"words": 3}, 422),
    ("/api/date_translation", {}, 400),
    ("/api/date_translation", {"text": "1 jan 2000", "texts": ["x"]}, 400),
    ("/api/date_translation", {"texts": ["1 may 2000"] * 1001}, 413),
    ("/api/date_translation", {"texts": ["", " "]}, 400),
    ("/api/word_embeddings/neighbours", {"words": []}, 400),
    ("/api/word_embeddings/project", {"words": ["king"]}, 400),
    ("/api/no_such_task", {"text": "x"}, 404),
    ("/api/sentiment/nothing/here", {"text": "x"}, 404),
])
def test_bad_requests_get_a_json_reason(client, path, body, status):
    response = client.post(path, json=body)
    assert response.status_code == status, response.text
    assert isinstance(response.json()["error"], str) and response.json()["error"]


def test_oversized_and_malformed_bodies_and_unknown_pages(client):
    huge = client.post("/api/sentiment", content=b'{"text": "' + b"a" * 1_100_000 + b'"}',
                       headers={"Content-Type": "application/json"})
    assert huge.status_code == 413
    broken = client.post("/api/sentiment", content=b'{"text": ', headers={"Content-Type": "application/json"})
    assert broken.status_code == 422 and broken.json()["error"]
    for path in ("/task/no_such_task", "/static/../app.py", "/static/%2e%2e%2fapp.py", "/static/nothing.js",
                 "/etc/passwd"):
        response = client.get(path)
        assert response.status_code == 404 and "error" in response.json(), path
    # After all of that the server still answers.
    assert client.post("/api/sentiment", json={"text": "fine"}).status_code == 200


def test_pages_and_task_list(client):
    tasks = client.get("/api/tasks").json()["tasks"]
    assert [t["name"] for t in tasks] == ["date_translation", "sentiment", "trigger_word", "text_generation",
                                          "word_embeddings", "speech_recognition"]
    assert all(t["available"] for t in tasks)
    for task in tasks:
        page = client.get(f"/task/{task['name']}")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert f'/static/{task["name"]}.js' in page.text
    assert client.get("/static/common.js").headers["content-type"].startswith("text/javascript")


def test_missing_and_broken_runs_turn_off_only_their_page(runs_dir, tmp_path):
    from fastapi.testclient import TestClient

    from webapp.app import create_app

    (tmp_path / "word_embeddings").symlink_to(runs_dir / "word_embeddings")
    broken = tmp_path / "sentiment" / "saved_model"
    broken.mkdir(parents=True)
    (broken / "saved_model.pb").write_bytes(b"not a protocol buffer")
    with TestClient(create_app(tmp_path, warmup=False)) as client:
        tasks = {t["name"]: t for t in client.get("/api/tasks").json()["tasks"]}
        assert tasks["word_embeddings"]["available"]
        assert "does not load" in tasks["sentiment"]["reason"]
        assert f"python -m tasks.sentiment demo --out {tmp_path / 'sentiment'}" in tasks["sentiment"]["reason"]
        assert "No SavedModel" in tasks["date_translation"]["reason"]
        response = client.post("/api/date_translation", json={"text": "1 may 2000"})
        assert response.status_code == 503 and "python -m tasks.date_translation demo" in response.json()["error"]
        assert client.post("/api/word_embeddings/neighbours", json={"words": ["king"]}).status_code == 200
        speech = client.post("/api/speech_recognition", files={"file": ("x.wav", wav_bytes(np.zeros(1600, np.float32)),
                                                                         "audio/wav")})
        assert speech.status_code == 503
        assert f"python -m tasks.speech_recognition demo --out {tmp_path / 'speech_recognition'}" in speech.json()["error"]
        with client.websocket_connect("/api/trigger_word/stream") as socket:
            assert "off" in socket.receive_json()["error"]


def test_serve_command_binds_loopback_and_prints_the_address(tmp_path):
    process = subprocess.Popen([sys.executable, "-m", "tasks", "serve", "--runs", str(tmp_path), "--port", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline, address = time.time() + 120, None
        while time.time() < deadline and address is None:
            line = process.stdout.readline()
            if not line:
                break
            if "http://" in line:
                address = line.split("http://")[1].split("/")[0]
        assert address and address.startswith("127.0.0.1:"), "no address printed"
        import httpx

        status = httpx.get(f"http://{address}/api/tasks", timeout=30).json()
        assert not any(t["available"] for t in status["tasks"])
    finally:
        process.terminate()
        process.wait(30)
