"""Every page in Debian's chromium, driven by Playwright: input, the right answer, a plot, no console errors.

The microphone is Chromium's fake capture device playing a generated clip
that holds the trigger word. Screenshots go to each test's tmp_path.
"""

import os
import shutil

import numpy as np
import pytest
import soundfile

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not shutil.which(CHROMIUM),
                       reason=f"no chromium at {CHROMIUM} (apt-get install -y chromium, or set CHROMIUM)"),
]


def _playwright():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the playwright package is not installed (pip install playwright; no browser download needed)")
    return sync_playwright


@pytest.fixture(scope="module")
def playwright():
    with _playwright()() as driver:
        yield driver


def launch(playwright, extra_args=()):
    return playwright.chromium.launch(executable_path=CHROMIUM,
                                      args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required",
                                            *extra_args])


@pytest.fixture(scope="module")
def browser(playwright):
    browser = launch(playwright)
    yield browser
    browser.close()


class Page:
    """A page that records console errors and uncaught exceptions."""

    def __init__(self, browser, url, tmp_path):
        self.page = browser.new_page(viewport={"width": 1100, "height": 900})
        self.errors = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.tmp_path = tmp_path
        self.page.goto(url)
        self.page.wait_for_selector("header a")  # the task list has loaded

    def drawn(self, canvas_id, left=0):
        """How many canvas pixels right of ``left`` (past the axis labels) are not white (a plot was drawn there)."""
        return self.page.evaluate("""([id, left]) => { const c = document.getElementById(id);
            const d = c.getContext("2d").getImageData(left, 0, c.width - left, c.height).data; let n = 0;
            for (let i = 0; i < d.length; i += 4) if (d[i] < 240 || d[i + 1] < 240 || d[i + 2] < 240) n++;
            return n; }""", [canvas_id, left])

    def finish(self, name):
        self.page.screenshot(path=str(self.tmp_path / f"{name}.png"), full_page=True)
        assert self.page.locator("#error").is_hidden(), self.page.locator("#error").inner_text()
        assert self.errors == [], self.errors


def test_index_lists_every_task(browser, live_server, tmp_path):
    page = Page(browser, live_server + "/", tmp_path)
    page.page.wait_for_selector("#tasks li")
    assert page.page.locator("#tasks li a").count() == 6
    page.finish("index")


def test_a_missing_run_turns_its_page_off_with_the_command(browser, app, tmp_path):
    from tests.webapp.conftest import serve_in_thread
    from webapp.app import create_app
    from webapp.adapters import RunUnavailable, SentimentAdapter

    with pytest.raises(RunUnavailable) as missing:
        SentimentAdapter(tmp_path / "sentiment")
    adapters = {"sentiment": str(missing.value), "word_embeddings": app.state.adapters["word_embeddings"]}
    url, stop = serve_in_thread(create_app(tmp_path, adapters=adapters, warmup=False))
    try:
        page = Page(browser, url + "/task/sentiment", tmp_path)
        page.page.wait_for_selector("#off:not(.hidden)")
        assert f"python -m tasks.sentiment demo --out {tmp_path / 'sentiment'}" in page.page.inner_text("#off")
        assert page.page.locator("#content").is_hidden()
        assert "(off)" in page.page.inner_text("header")
        page.finish("sentiment_off")
        other = Page(browser, url + "/task/word_embeddings", tmp_path)
        other.page.click("#neighbours-button")
        other.page.wait_for_selector("#neighbours tr")
        other.finish("word_embeddings_on")
    finally:
        stop()


def test_dates_page(browser, live_server, client, tmp_path):
    page = Page(browser, live_server + "/task/date_translation", tmp_path)
    text = "3rd of march 1979"
    expected = client.post("/api/date_translation", json={"text": text}).json()["results"][0]
    page.page.fill("#text", text)
    page.page.click("#translate")
    page.page.wait_for_function("document.getElementById('attention').dataset.drawn === 'heatmap'")
    assert page.page.inner_text("#iso") == (expected["iso"] or "not a date")
    assert float(page.page.inner_text("#confidence")) == pytest.approx(expected["confidence"], abs=1e-3)
    assert page.drawn("attention") > 100
    lines = ["12.05.07", "05/03/1979"]
    page.page.fill("#batch", "\n".join(lines))
    page.page.click("#run-batch")
    page.page.wait_for_selector("#batch-results tr:nth-child(3)")
    batch = client.post("/api/date_translation", json={"texts": lines}).json()["results"]
    cells = page.page.locator("#batch-results td").all_inner_texts()
    assert cells[0::3] == lines and cells[1::3] == [r["iso"] or "not a date" for r in batch]
    page.finish("dates")


def test_sentiment_page(browser, live_server, client, tmp_path):
    page = Page(browser, live_server + "/task/sentiment", tmp_path)
    text = "a gorgeous witty film with a dull plot"
    expected = client.post("/api/sentiment", json={"text": text}).json()
    page.page.fill("#text", text)
    page.page.click("#classify")
    page.page.wait_for_selector("#words span")
    assert page.page.inner_text("#label") == expected["label"]
    pushes = [float(p) for p in page.page.eval_on_selector_all("#words span", "s => s.map(e => e.dataset.push)")]
    assert pushes == pytest.approx([w["push"] for w in expected["words"]], abs=1e-4)
    assert page.drawn("probabilities") > 100
    page.finish("sentiment")


def test_text_generation_page(browser, live_server, client, tmp_path):
    page = Page(browser, live_server + "/task/text_generation", tmp_path)
    expected = client.post("/api/text_generation", json={"prefix": "jo", "temperature": 1.0, "top_k": 0,
                                                         "top_p": 1.0, "num_samples": 3, "seed": 11}).json()
    for field, value in (("#prefix", "jo"), ("#temperature", "1"), ("#num-samples", "3"), ("#seed", "11")):
        page.page.fill(field, value)
    page.page.click("#generate")
    page.page.wait_for_selector("#samples li")
    assert page.page.locator("#samples li").all_inner_texts() == expected["samples"]
    page.finish("text_generation")


def test_word_embeddings_page(browser, live_server, client, tmp_path):
    page = Page(browser, live_server + "/task/word_embeddings", tmp_path)
    page.page.fill("#words", "king, nonword")
    page.page.click("#neighbours-button")
    page.page.wait_for_selector("#neighbours tr:nth-child(2)")
    expected = client.post("/api/word_embeddings/neighbours", json={"words": ["king"]}).json()["results"][0]
    assert page.page.locator("#neighbours td").nth(1).inner_text().startswith(expected["neighbours"][0]["word"])
    assert "not in the vocabulary" in page.page.locator("#neighbours td").nth(3).inner_text()
    page.page.click("#analogy-button")
    page.page.wait_for_selector("#analogy li")
    answer = client.post("/api/word_embeddings/analogy", json={"a": "man", "b": "king", "c": "woman"}).json()
    assert page.page.locator("#analogy li").first.inner_text().startswith(answer["answers"][0]["word"])
    page.page.click("#project-button")
    page.page.wait_for_function("document.getElementById('projection').dataset.drawn === 'scatter'")
    assert page.drawn("projection") > 100
    page.finish("word_embeddings")


def test_trigger_word_page_with_an_uploaded_file(browser, live_server, clip, tmp_path):
    waveform, start, end = clip
    path = tmp_path / "clip.wav"
    soundfile.write(path, waveform, 16000, subtype="FLOAT")
    page = Page(browser, live_server + "/task/trigger_word", tmp_path)
    page.page.set_input_files("#file", str(path))
    page.page.click("#upload")
    page.page.wait_for_function("document.getElementById('curve').dataset.drawn === 'curve'")
    times = [float(t.strip(" s")) for t in page.page.inner_text("#detections").split(",")]
    assert len(times) == 1 and start <= times[0] <= end + 0.3
    assert page.drawn("spectrogram") > 1000 and page.drawn("curve") > 100
    page.finish("trigger_word_upload")


@pytest.fixture(scope="module")
def microphone_browser(playwright, clip, tmp_path_factory):
    """A browser whose microphone plays the trigger-word clip (in a loop), with permission granted."""
    waveform, _, _ = clip
    path = tmp_path_factory.mktemp("microphone") / "clip.wav"
    # Silence after the word, so the looped clip keeps the word apart from its next repetition.
    soundfile.write(path, np.concatenate([waveform, np.zeros(16000, np.float32)]), 16000, subtype="PCM_16")
    browser = launch(playwright, ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                                  f"--use-file-for-fake-audio-capture={path}"])
    yield browser
    browser.close()


def test_trigger_word_live_mode_with_the_fake_microphone(microphone_browser, live_server, tmp_path):
    page = Page(microphone_browser, live_server + "/task/trigger_word", tmp_path)
    page.page.click("#live-start")
    page.page.wait_for_selector("#live-detections li", timeout=30_000)
    text = page.page.locator("#live-detections li").first.inner_text()
    assert "detected at" in text and "delay" in text
    delay_ms = float(text.split("delay ")[1].split(" ms")[0])
    assert 0 <= delay_ms < 2000
    assert page.drawn("live-curve") > 100
    page.page.click("#live-stop")
    page.finish("trigger_word_live")


def test_trigger_word_recording_with_the_fake_microphone(microphone_browser, live_server, tmp_path):
    page = Page(microphone_browser, live_server + "/task/trigger_word", tmp_path)
    page.page.click("#record")
    page.page.wait_for_function("document.getElementById('curve').dataset.drawn === 'curve'", timeout=30_000)
    assert page.drawn("spectrogram") > 1000
    # The fake device loops the 5 s clip from an arbitrary point; 3 s of it need not hold the word,
    # but the page must show the answer it got, whichever it was.
    assert page.page.inner_text("#detections") != ""
    page.finish("trigger_word_record")


def test_speech_recognition_page_with_an_uploaded_file(browser, live_server, client, spoken_date, tmp_path):
    path = tmp_path / "date.wav"
    soundfile.write(path, spoken_date[0], 16000, subtype="PCM_16")
    expected = client.post("/api/speech_recognition", files={"file": ("date.wav", path.read_bytes(), "audio/wav")}).json()
    page = Page(browser, live_server + "/task/speech_recognition", tmp_path)
    page.page.set_input_files("#file", str(path))
    page.page.click("#upload")
    page.page.wait_for_function("document.getElementById('posteriors').dataset.drawn === 'posteriors'")
    assert page.page.inner_text("#transcript") == (expected["text"] or "(nothing recognised)")
    assert float(page.page.inner_text("#confidence")) == pytest.approx(expected["confidence"], abs=1e-3)
    assert page.page.inner_text("#iso") == (expected["date"]["iso"] or "not a date")
    # The heat map itself, not only its row labels (the first 18 pixels).
    assert page.drawn("spectrogram") > 1000 and page.drawn("posteriors", left=20) > 100
    page.finish("speech_recognition_upload")


def test_speech_recognition_recording_with_the_fake_microphone(microphone_browser, live_server, tmp_path):
    page = Page(microphone_browser, live_server + "/task/speech_recognition", tmp_path)
    page.page.click("#record")
    page.page.wait_for_function("document.getElementById('record').textContent.includes('(1.')", timeout=30_000)
    page.page.click("#record")
    page.page.wait_for_function("document.getElementById('posteriors').dataset.drawn === 'posteriors'",
                                timeout=30_000)
    assert page.page.inner_text("#transcript") != "" and page.drawn("spectrogram") > 1000
    page.finish("speech_recognition_record")
