"""The FastAPI application: one page per task, a JSON API under the pages, a websocket for live audio.

Every error is JSON, ``{"error": "..."}``, with a 4xx status for anything the
request did wrong (413 too large, 415 not audio, 400 bad values, 404 unknown
task or page, 422 malformed JSON, 429 too many requests waiting) and 503 for
a task whose run is missing. The pages and their scripts are read once at
start-up from ``webapp/static`` and served by exact name: no path taken from
a request is ever opened.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import List, Optional

import numpy as np
from fastapi import FastAPI, File, Form, HTTPException, Request, UploadFile, WebSocket, WebSocketDisconnect
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from webapp.adapters import TASKS, TITLES, BadInput, load_all, log_mel_spectrogram, read_audio
from webapp.batching import MicroBatcher, QueueFull

STATIC_DIR = Path(__file__).resolve().parent / "static"
CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                 ".css": "text/css; charset=utf-8"}

# Limits on what one request may ask; each says why in a sentence.
MAX_BODY_BYTES = 1_000_000  # JSON bodies: a thousand long lines fit, a runaway client does not.
MAX_UPLOAD_BYTES = 10_000_000  # Audio uploads: a minute of 16-bit stereo 44.1 kHz WAV is 10.6 MB.
MAX_AUDIO_SECONDS = 60.0  # Longer clips are a batch job, not a page.
MAX_TEXT_CHARS = 2000  # The sentiment model reads 2,000 characters; the date model 32 (longer gets confidence 0).
MAX_BATCH_LINES = 1000  # The dates batch box.
MAX_WORDS = 50  # Word-embedding lists: neighbours and the 2-D projection stay readable.
MAX_SAMPLES = 20  # Text generation samples per request.
MAX_STREAMS = 4  # Live trigger-word streams at once; each costs a model call per chunk.
MAX_STREAM_MESSAGE_BYTES = 4 * 16000 * 2  # Two seconds of float32 audio per websocket message at most.
MAX_STREAM_SECONDS = 600.0  # A live stream ends after ten minutes of audio.


def error_response(status, message):
    return JSONResponse({"error": message}, status_code=status)


class BodyLimit:
    """ASGI middleware: refuses request bodies over a size limit with 413 before reading them."""

    def __init__(self, app, json_limit, upload_limit):
        self.app, self.json_limit, self.upload_limit = app, json_limit, upload_limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        limit = self.upload_limit if b"multipart/form-data" in headers.get(b"content-type", b"") else self.json_limit
        length = headers.get(b"content-length")
        too_large = f"The request body is over the limit of {limit:,} bytes."
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                return await error_response(400, "Invalid Content-Length header.")(scope, receive, send)
            if declared > limit:
                return await error_response(413, too_large)(scope, receive, send)
        received = 0
        started = False

        async def counting_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge()
            return message

        async def tracking_send(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _BodyTooLarge:
            if not started:
                await error_response(413, too_large)(scope, receive, send)


class _BodyTooLarge(Exception):
    pass


class Gate:
    """At most ``limit`` requests of one kind in flight; the next gets 429 instead of a queue."""

    def __init__(self, limit, what):
        self.limit, self.what, self.in_flight = limit, what, 0

    def __enter__(self):
        if self.in_flight >= self.limit:
            raise HTTPException(429, f"{self.in_flight} {self.what} requests are running; try again shortly.")
        self.in_flight += 1

    def __exit__(self, *exc):
        self.in_flight -= 1


# ---------------------------------------------------------------------------
# Request bodies

class DatesRequest(BaseModel):
    text: Optional[str] = None
    texts: Optional[List[str]] = None
    order: str = "MDY"
    attention: bool = False


class SentimentRequest(BaseModel):
    text: str
    explain: bool = True


class GenerationRequest(BaseModel):
    prefix: str = ""
    temperature: float = 0.8
    top_k: int = 0
    top_p: float = 1.0
    num_samples: int = 5
    seed: Optional[int] = None


class WordsRequest(BaseModel):
    words: List[str]


class AnalogyRequest(BaseModel):
    a: str
    b: str
    c: str


def _check_text(text, what="text", limit=MAX_TEXT_CHARS):
    if not text or not text.strip():
        raise HTTPException(400, f"The {what} is empty.")
    if len(text) > limit:
        raise HTTPException(413, f"The {what} has {len(text):,} characters; the limit is {limit:,}.")
    return text


def _check_words(words):
    words = [w.strip() for w in words if w and w.strip()]
    if not words:
        raise HTTPException(400, "Give at least one word.")
    if len(words) > MAX_WORDS:
        raise HTTPException(413, f"{len(words)} words; the limit is {MAX_WORDS}.")
    for word in words:
        _check_text(word, "word", 100)
    return words


# ---------------------------------------------------------------------------

def create_app(runs_dir, adapters=None, warmup=True):
    """The application over ``runs_dir/<task>/saved_model`` (``adapters`` overrides loading, for tests)."""
    adapters = dict(adapters) if adapters is not None else load_all(runs_dir)
    static = {path.name: path.read_bytes() for path in STATIC_DIR.iterdir() if path.suffix in CONTENT_TYPES}
    app = FastAPI(title="seqmodels", description="The SavedModels of every seqmodels task.", docs_url="/api/docs",
                  openapi_url="/api/openapi.json", redoc_url=None)
    app.state.adapters = adapters
    app.state.runs_dir = str(runs_dir)

    def available(task):
        adapter = adapters.get(task)
        if isinstance(adapter, str) or adapter is None:
            raise HTTPException(503, f"The {task} page is off: {adapter or 'not loaded'}")
        return adapter

    # -- micro-batchers for the text tasks that see concurrent traffic ----------------------------
    batchers = {}
    if not isinstance(adapters.get("date_translation"), (str, type(None))):
        dates = adapters["date_translation"]
        batchers["date_translation"] = MicroBatcher(
            lambda items: dates.translate([text for text, _ in items], [order for _, order in items]),
            max_batch=64, name="dates")
        if warmup:  # Compile the decoder's batch-size buckets before the first visitor pays for them.
            for size in (1, 9, 17, 33):
                dates.translate(["1 jan 2000"] * size)
    if not isinstance(adapters.get("sentiment"), (str, type(None))):
        sentiment = adapters["sentiment"]
        batchers["sentiment"] = MicroBatcher(lambda texts: list(sentiment.classify(texts)), max_batch=256,
                                             name="sentiment")
        if warmup:
            sentiment.classify(["a fine film"])
    app.state.batchers = batchers
    gates = {"trigger_word": Gate(4, "audio"), "text_generation": Gate(4, "generation"),
             "word_embeddings": Gate(16, "embedding"), "attention": Gate(8, "attention"),
             "speech_recognition": Gate(4, "speech")}
    streams = Gate(MAX_STREAMS, "live audio stream")

    @app.on_event("shutdown")
    def _close_batchers():
        for batcher in batchers.values():
            batcher.close()

    # -- errors: always JSON -------------------------------------------------------------------
    @app.exception_handler(HTTPException)
    async def _http_error(request, error):
        return error_response(error.status_code, str(error.detail))

    from starlette.exceptions import HTTPException as StarletteHTTPException

    @app.exception_handler(StarletteHTTPException)
    async def _starlette_error(request, error):
        if error.status_code == 404:
            return error_response(404, f"No page or API at {request.url.path}. Tasks: {', '.join(TASKS)}.")
        return error_response(error.status_code, str(error.detail))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request, error):
        problems = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in error.errors())
        return error_response(422, f"Malformed request: {problems}")

    @app.exception_handler(BadInput)
    async def _bad_input(request, error):
        return error_response(400, str(error))

    @app.exception_handler(QueueFull)
    async def _queue_full(request, error):
        return error_response(429, f"The server is busy ({error}); try again shortly.")

    @app.exception_handler(Exception)
    async def _unexpected(request, error):
        return error_response(500, f"The model failed on this request ({type(error).__name__}); the server goes on.")

    # -- pages -----------------------------------------------------------------------------------
    def static_response(name):
        if name not in static:
            raise HTTPException(404, f"No file {name!r}.")
        return Response(static[name], media_type=CONTENT_TYPES[Path(name).suffix])

    @app.get("/", include_in_schema=False)
    def index():
        return static_response("index.html")

    @app.get("/static/{name}", include_in_schema=False)
    def static_file(name: str):
        return static_response(name)  # a key into the dict read at start-up, never a path

    @app.get("/task/{task}", include_in_schema=False)
    def task_page(task: str):
        if task not in TASKS:
            raise HTTPException(404, f"Unknown task {task!r}. Tasks: {', '.join(TASKS)}.")
        return static_response(f"{task}.html")

    @app.get("/api/tasks")
    def list_tasks():
        """Each task, whether its page is on, and if not why and which command makes its run."""
        return {"runs": str(runs_dir), "tasks": [
            {"name": task, "title": TITLES[task], "available": not isinstance(adapters.get(task), (str, type(None))),
             "reason": adapters.get(task) if isinstance(adapters.get(task), str) else None}
            for task in TASKS]}

    # -- dates -----------------------------------------------------------------------------------
    @app.post("/api/date_translation")
    async def translate_dates(body: DatesRequest):
        """One ``text`` (with ``attention``) or a batch of ``texts`` -> ISO dates and confidences."""
        from webapp.adapters import check_order

        dates = available("date_translation")
        if (body.text is None) == (body.texts is None):
            raise HTTPException(400, "Give either text (one date) or texts (a list of dates).")
        if body.texts is not None:
            texts = [t for t in body.texts if t.strip()]
            if not texts:
                raise HTTPException(400, "The batch holds no non-empty line.")
            if len(texts) > MAX_BATCH_LINES:
                raise HTTPException(413, f"{len(texts):,} lines; the limit is {MAX_BATCH_LINES:,}.")
        else:
            texts = [body.text]
        for text in texts:
            _check_text(text, "date text", 200)
        order = check_order(body.order)
        answers = await batchers["date_translation"].submit([(text, order) for text in texts])
        results = [{"text": text, "iso": iso, "confidence": round(confidence, 4)}
                   for text, (iso, confidence) in zip(texts, answers)]
        response = {"results": results, "order": order}
        if body.attention and body.text is not None:
            with gates["attention"]:
                response["attention"] = await run_in_threadpool(dates.attention, texts[0], order)
            if response["attention"] is None:
                response["attention_note"] = dates.attention_note or "no attention for an empty or unreadable answer"
        return response

    # -- sentiment -------------------------------------------------------------------------------
    @app.post("/api/sentiment")
    async def classify_sentiment(body: SentimentRequest):
        """Text -> label, probabilities, and each word's push on the label (occlusion)."""
        sentiment = available("sentiment")
        text = _check_text(body.text)
        probabilities = np.asarray((await batchers["sentiment"].submit([text]))[0])
        names = sentiment.class_names
        label = int(np.argmax(probabilities))
        response = {"label": names[label], "probability": round(float(probabilities[label]), 4),
                    "probabilities": {n: round(float(p), 4) for n, p in zip(names, probabilities)}}
        if body.explain:
            words, variants = sentiment.occlusion_variants(text)
            occluded = await batchers["sentiment"].submit(variants) if variants else []
            response["words"] = sentiment.word_pushes(words, probabilities, occluded)
            response["explanation"] = "occlusion: P(label) minus P(label) with the word left out"
        return response

    async def read_upload(file):
        """The upload's bytes as 16 kHz mono float32 (its filename is never used); 4xx for anything else."""
        data = await file.read(MAX_UPLOAD_BYTES + 1)
        if len(data) > MAX_UPLOAD_BYTES:
            raise HTTPException(413, f"The upload is over the limit of {MAX_UPLOAD_BYTES:,} bytes.")
        if not data:
            raise HTTPException(400, "The upload is empty.")
        try:
            return await run_in_threadpool(read_audio, data, MAX_AUDIO_SECONDS)
        except BadInput as error:
            raise HTTPException(413 if "limit" in str(error) else 415, str(error)) from None

    # -- trigger word ----------------------------------------------------------------------------
    @app.post("/api/trigger_word")
    async def detect_trigger_word(file: UploadFile = File(...)):
        """An audio file (WAV, FLAC, OGG; any rate, mixed to mono 16 kHz) -> spectrogram, probabilities, detections."""
        trigger = available("trigger_word")
        with gates["trigger_word"]:
            waveform = await read_upload(file)
            probabilities, detections = await run_in_threadpool(trigger.detect, waveform)
            spectrogram, seconds_per_row = await run_in_threadpool(log_mel_spectrogram, waveform)
        return {"duration": round(len(waveform) / 16000, 3), "frame_seconds": trigger.frame_seconds,
                "probabilities": np.round(probabilities, 4).tolist(), "detections": detections,
                "threshold": trigger.rule.threshold,
                "spectrogram": {"seconds_per_row": seconds_per_row,
                                "values": np.round(spectrogram, 2).tolist()}}

    # -- speech recognition ----------------------------------------------------------------------
    @app.post("/api/speech_recognition")
    async def recognize_speech(file: UploadFile = File(...), decoder: str = Form("default"),
                               date: bool = Form(True), order: str = Form("MDY")):
        """An audio file -> transcript, confidence, CTC posteriors, spectrogram; and the transcript's ISO date
        through the date model when its page is on (``date=false`` skips it)."""
        from webapp.adapters import check_order

        speech = available("speech_recognition")
        decoder, order = speech.check_decoder(decoder), check_order(order)
        with gates["speech_recognition"]:
            waveform = await read_upload(file)
            text, confidence, posteriors = await run_in_threadpool(speech.transcribe, waveform, decoder)
            spectrogram, seconds_per_row = await run_in_threadpool(log_mel_spectrogram, waveform)
        response = {"text": text, "confidence": round(confidence, 4), "decoder": decoder,
                    "serving_decoder": speech.serving_decoder,
                    "duration": round(len(waveform) / 16000, 3), "frame_seconds": speech.frame_seconds,
                    "classes": speech.classes, "posteriors": np.round(posteriors, 3).tolist(),
                    "spectrogram": {"seconds_per_row": seconds_per_row, "values": np.round(spectrogram, 2).tolist()}}
        if date:
            if "date_translation" not in batchers:
                response["date_note"] = "no ISO date: the dates page is off"
            elif not text:
                response["date_note"] = "no ISO date: nothing was recognised"
            elif len(text) > 200:
                response["date_note"] = "no ISO date: the transcript is longer than a date"
            else:
                (iso, iso_confidence), = await batchers["date_translation"].submit([(text, order)])
                response["date"] = {"iso": iso, "confidence": round(iso_confidence, 4), "order": order}
        return response

    @app.websocket("/api/trigger_word/stream")
    async def stream_trigger_word(websocket: WebSocket):
        """Live mode: binary messages of float32 16 kHz samples in; JSON probabilities and detections out."""
        adapter = adapters.get("trigger_word")
        await websocket.accept()
        if isinstance(adapter, (str, type(None))):
            await websocket.send_json({"error": f"The trigger_word page is off: {adapter}"})
            return await websocket.close(code=1011)
        if streams.in_flight >= streams.limit:
            await websocket.send_json({"error": f"{streams.in_flight} live streams are running; try again later."})
            return await websocket.close(code=1013)
        try:
            stream = adapter.new_stream()
        except BadInput as error:
            await websocket.send_json({"error": str(error)})
            return await websocket.close(code=1011)
        with streams:
            samples_seen = 0
            await websocket.send_json({"type": "ready", "frame_seconds": adapter.frame_seconds,
                                       "threshold": adapter.rule.threshold})
            try:
                while True:
                    message = await websocket.receive()
                    if message["type"] == "websocket.disconnect":
                        break
                    data = message.get("bytes")
                    if data is None:
                        if message.get("text") == "reset":
                            stream, samples_seen = adapter.new_stream(), 0
                            continue
                        await websocket.send_json({"error": "Send audio as binary float32 samples."})
                        continue
                    if len(data) % 4 or len(data) > MAX_STREAM_MESSAGE_BYTES:
                        await websocket.send_json({"error": "A message must be whole float32 samples, "
                                                   f"at most {MAX_STREAM_MESSAGE_BYTES} bytes."})
                        continue
                    samples = np.clip(np.nan_to_num(np.frombuffer(data, "<f4")), -1.0, 1.0)
                    samples_seen += len(samples)
                    if samples_seen / 16000 > MAX_STREAM_SECONDS:
                        await websocket.send_json({"error": "The stream reached its ten-minute limit."})
                        break
                    started = time.perf_counter()
                    start_frame = stream.frames_done
                    probabilities, detections = await run_in_threadpool(stream.feed, samples)
                    compute = time.perf_counter() - started
                    heard = samples_seen / 16000
                    await websocket.send_json({
                        "type": "frames", "start_frame": start_frame,
                        "probabilities": np.round(probabilities, 4).tolist(), "samples": samples_seen,
                        "compute_ms": round(compute * 1000, 1),
                        # Delay of each detection: audio heard after the detected frame's end,
                        # plus the model's time on this message.
                        "detections": [{"time": round(t, 3), "delay": round(heard - t + compute, 3)}
                                       for t in detections]})
            except WebSocketDisconnect:
                pass

    # -- text generation -------------------------------------------------------------------------
    @app.post("/api/text_generation")
    async def generate_text(body: GenerationRequest):
        """Prefix, temperature, top-k, top-p -> samples (a fixed ``seed`` repeats them)."""
        generator = available("text_generation")
        if len(body.prefix) > 200:
            raise HTTPException(413, f"The prefix has {len(body.prefix)} characters; the limit is 200.")
        if not 0 <= body.temperature <= 5:
            raise HTTPException(400, "temperature must be between 0 and 5 (0 is greedy).")
        if not 0 <= body.top_k <= 1000:
            raise HTTPException(400, "top_k must be between 0 (off) and 1000.")
        if not 0 < body.top_p <= 1:
            raise HTTPException(400, "top_p must be in (0, 1] (1 is off).")
        if not 1 <= body.num_samples <= MAX_SAMPLES:
            raise HTTPException(400, f"num_samples must be between 1 and {MAX_SAMPLES}.")
        seed = body.seed if body.seed is not None else int(np.random.default_rng().integers(2**31 - 1))
        if not 0 <= seed < 2**62:
            raise HTTPException(400, "seed must be a non-negative integer below 2**62.")
        with gates["text_generation"]:
            samples = await run_in_threadpool(generator.generate, body.prefix, body.temperature, body.top_k,
                                              body.top_p, body.num_samples, seed)
        return {"samples": samples, "seed": seed}

    # -- word embeddings -------------------------------------------------------------------------
    @app.post("/api/word_embeddings/neighbours")
    async def neighbours(body: WordsRequest):
        """Words -> their nearest neighbours and cosine similarities (empty for unknown words)."""
        embeddings = available("word_embeddings")
        words = _check_words(body.words)
        with gates["word_embeddings"]:
            found, similarities, _, known = await run_in_threadpool(embeddings.lookup, words)
        return {"results": [
            {"word": word, "known": ok,
             "neighbours": [{"word": n, "similarity": round(float(s), 4)} for n, s in zip(row, sims) if n] if ok else []}
            for word, row, sims, ok in zip(words, found, similarities, known)]}

    @app.post("/api/word_embeddings/analogy")
    async def analogy(body: AnalogyRequest):
        """a : b :: c : ? (the words nearest b - a + c)."""
        embeddings = available("word_embeddings")
        a, b, c = _check_words([body.a, body.b, body.c]) if all(w.strip() for w in (body.a, body.b, body.c)) \
            else (None, None, None)
        if a is None:
            raise HTTPException(400, "Give three words a, b and c.")
        with gates["word_embeddings"]:
            answers = await run_in_threadpool(embeddings.analogy, a, b, c)
        return {"query": f"{a} : {b} :: {c} : ?", "answers": [{"word": w, "similarity": round(s, 4)}
                                                              for w, s in answers]}

    @app.post("/api/word_embeddings/project")
    async def project(body: WordsRequest):
        """Chosen words -> 2-D coordinates (PCA of their vectors)."""
        embeddings = available("word_embeddings")
        words = _check_words(body.words)
        with gates["word_embeddings"]:
            points, unknown = await run_in_threadpool(embeddings.project, words)
        return {"points": points, "unknown": unknown}

    @app.api_route("/api/{task}", methods=["GET", "POST"], include_in_schema=False)
    @app.api_route("/api/{task}/{rest:path}", methods=["GET", "POST"], include_in_schema=False)
    def unknown_api(task: str, rest: str = ""):
        if task not in TASKS:
            raise HTTPException(404, f"Unknown task {task!r}. Tasks: {', '.join(TASKS)}.")
        raise HTTPException(404, f"No API at /api/{task}/{rest}. See /api/docs.")

    app.add_middleware(BodyLimit, json_limit=MAX_BODY_BYTES, upload_limit=MAX_UPLOAD_BYTES)
    return app
