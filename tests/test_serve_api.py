"""`captra serve` through the app's test client: answers equal offline decoding, the model card, health, metrics,
the API key, limits, and every bad input of the list answered with a 4xx that names it while serving goes on."""

import asyncio
import base64
import io
import json
import threading
import time
import zlib

import pytest
import torch
from fastapi.testclient import TestClient
from PIL import Image

from captra.captioning.caption import caption_batches
from captra.captioning.images import image_transform
from captra.common.cli.inference import decoding_config
from captra.common.serve.app import create_app
from captra.common.serve.batcher import DynamicBatcher, Stopped
from captra.common.serve.command import check_binding, named_checkpoints
from captra.common.serve.limits import Batching, Limits
from captra.common.serve.models import load_served
from captra.translation.translate import translate_scored
from tests.helpers import draw_shape

CPU = torch.device("cpu")
SENTENCES = ["a b c d", "e f g", "b a", "c c d e f g a", "g"]
KEY = "s3cret-key"


@pytest.fixture(scope="module")
def served(two_checkpoints, tiny_captioner):
    _, best = two_checkpoints
    return [load_served("reverse", [str(best[0])], CPU, None), load_served("shapes", [str(tiny_captioner)], CPU, None)]


@pytest.fixture(scope="module")
def client(served):
    app = create_app(served, Limits(max_inputs=8, max_text_chars=200, max_image_pixels=500_000, max_body_bytes=300_000),
                     Batching(max_batch=4, max_wait_ms=20))
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def offline_translations(module, sentences, beam=None, n_best=1):
    config = decoding_config(module.search_config, beam, n_best)
    encoded = [module.texts["src"].encode(sentence) for sentence in sentences]
    return translate_scored(module, encoded, config, 64, CPU)


def png_bytes(picture: Image.Image) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def test_translations_equal_offline_decoding_with_n_best_and_scores(client, served):
    answer = client.post("/v1/translate", json={"text": SENTENCES, "beam": 3, "n_best": 2})
    assert answer.status_code == 200, answer.text
    offline = offline_translations(served[0].module, SENTENCES, beam=3, n_best=2)
    results = answer.json()["results"]
    assert [r["input"] for r in results] == SENTENCES and not any(r["truncated"] for r in results)
    for result, expected in zip(results, offline):
        assert [t["text"] for t in result["outputs"]] == [text for text, _ in expected]
        assert [t["score"] for t in result["outputs"]] == pytest.approx([score for _, score in expected], abs=1e-5)
        assert "attention" not in result
    assert answer.json()["model"] == "reverse"


def test_alignment_matrices_have_a_row_per_target_token_and_a_column_per_source_token(client):
    result = client.post("/v1/translate", json={"text": ["a b c d"], "attention": True}).json()["results"][0]
    attention = result["attention"]
    assert attention["input_tokens"] == ["a", "b", "c", "d"]  # word-level tokens
    assert len(attention["weights"]) == len(attention["output_tokens"]) > 0
    assert " ".join(attention["output_tokens"]) == result["outputs"][0]["text"]  # the best output's
    assert all(len(row) == 4 for row in attention["weights"])
    assert all(abs(sum(row) - 1) < 1e-2 for row in attention["weights"])  # a distribution over the source tokens


def test_concurrent_requests_are_batched_together_and_each_answered_as_alone(client, served):
    answers, threads = {}, []
    for index, sentence in enumerate(SENTENCES * 2):
        def ask(index=index, sentence=sentence):
            answers[index] = client.post("/v1/translate", json={"text": [sentence]}).json()
        threads.append(threading.Thread(target=ask))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    offline = offline_translations(served[0].module, SENTENCES * 2)
    assert [answers[i]["results"][0]["outputs"][0]["text"] for i in range(len(threads))] == [o[0][0] for o in offline]
    metrics = client.get("/metrics").text
    batches = [line for line in metrics.splitlines() if line.startswith('captra_batch_size_count{model="reverse"}')]
    sizes = [line for line in metrics.splitlines() if line.startswith('captra_batch_size_sum{model="reverse"}')]
    assert float(batches[0].split()[-1]) < float(sizes[0].split()[-1])  # some batch held more than one input


def test_captions_of_uploaded_and_base64_images_equal_captra_caption(client, served, tiny_captioner):
    pictures = [draw_shape("green", "triangle", (203, 97)), draw_shape("red", "square", (77, 311))]
    files = [("images", (f"p{i}.png", png_bytes(p), "image/png")) for i, p in enumerate(pictures)]
    uploaded = client.post("/v1/caption", files=files, data={"beam": "2"})
    assert uploaded.status_code == 200, uploaded.text
    encoded = [base64.b64encode(png_bytes(p)).decode() for p in pictures]
    inline = client.post("/v1/caption", json={"images": encoded, "beam": 2})
    module = served[1].module
    transform = image_transform(module.encoder.spec)
    offline = caption_batches(module, [transform(p) for p in pictures], decoding_config(module.search_config, 2), 32, CPU)
    expected = [module.to_text(hypothesis) for hypothesis in offline]
    assert [r["outputs"][0]["text"] for r in uploaded.json()["results"]] == expected
    assert [r["outputs"][0]["text"] for r in inline.json()["results"]] == expected
    assert [r["input"] for r in uploaded.json()["results"]] == ["p0.png", "p1.png"]
    assert [r["input"] for r in inline.json()["results"]] == ["images[0]", "images[1]"]
    wrapped = "data:image/png;base64," + "\n".join(encoded[0][i : i + 76] for i in range(0, len(encoded[0]), 76))
    as_gnu_base64_writes = client.post("/v1/caption", json={"images": [wrapped], "beam": 2})
    assert as_gnu_base64_writes.json()["results"][0]["outputs"][0]["text"] == expected[0]


def test_caption_attention_gives_every_word_a_distribution_over_the_grid(client):
    files = [("images", ("blue.png", png_bytes(draw_shape("blue", "circle")), "image/png"))]
    result = client.post("/v1/caption", files=files, data={"attention": "true", "n_best": "2"}).json()["results"][0]
    attention = result["attention"]
    rows, columns = attention["grid"]
    assert len(attention["weights"]) == len(attention["output_tokens"]) > 0 and len(result["outputs"]) == 2
    assert all(len(weights) == rows * columns and abs(sum(weights) - 1) < 1e-2 for weights in attention["weights"])


def test_model_cards_health_and_documentation(client):
    cards = {card["name"]: card for card in client.get("/v1/models").json()["models"]}
    assert cards["reverse"]["task"] == "translation" and cards["reverse"]["route"] == "/v1/translate"
    assert cards["shapes"]["input"] == "image" and cards["shapes"]["attention"] is True
    assert cards["reverse"]["verb"] == "Translate" and cards["reverse"]["batch_invariant"] is True
    assert cards["reverse"]["search"]["beam_size"] >= 1 and cards["reverse"]["vocabularies"]["src"]["size"] > 4
    assert {"cpu", "cpu_extensions", "quantized_engine", "commit"} <= set(cards["reverse"]["provenance"])
    assert client.get("/health").json() == {"status": "ok", "models": ["reverse", "shapes"]}
    schema = client.get("/openapi.json").json()
    assert {"/v1/translate", "/v1/caption", "/v1/models", "/health", "/metrics"} <= set(schema["paths"])
    body = schema["paths"]["/v1/caption"]["post"]["requestBody"]["content"]
    assert "multipart/form-data" in body and "text" in json.dumps(schema["paths"]["/v1/translate"])
    assert client.get("/docs").status_code == 200 and "<html" in client.get("/").text.lower()
    assert client.get("/page/app.js").status_code == 200


def test_a_model_is_chosen_by_name_and_an_unknown_one_is_named(client):
    assert client.post("/v1/translate?model=reverse", json={"text": ["a b"]}).status_code == 200
    unknown = client.post("/v1/translate?model=nope", json={"text": ["a b"]})
    assert unknown.status_code == 404 and "nope" in unknown.json()["error"] and "reverse" in unknown.json()["error"]


def test_metrics_count_requests_errors_and_latency(client):
    client.post("/v1/translate", json={"text": []})
    text = client.get("/metrics").text
    assert 'captra_requests_total{route="/v1/translate",status="200"}' in text
    assert 'captra_errors_total{route="/v1/translate"}' in text
    assert "captra_request_latency_seconds_bucket" in text and "captra_queue_depth" in text


def solid_png(width: int, height: int) -> bytes:
    """A PNG of width x height white pixels: a few hundred bytes for millions of pixels (a decompression bomb)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")
    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 0, 0, 0, 0])  # 8-bit greyscale
    compressor = zlib.compressobj(9)
    row = b"\x00" + b"\xff" * width
    data = b"".join(compressor.compress(row) for _ in range(min(height, 64))) + compressor.flush()
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


BAD_REQUESTS = {
    "malformed JSON": (dict(content=b'{"text": ["a b"', headers={"content-type": "application/json"}), 400, "not valid JSON"),
    "not an object": (dict(json=["a b"]), 422, "JSON object"),
    "wrong type": (dict(json={"text": "a b"}), 422, "text"),
    "wrong item type": (dict(json={"text": [3]}), 422, "text.0"),
    "missing field": (dict(json={"beam": 2}), 422, "text: Field required"),
    "unknown field": (dict(json={"text": ["a"], "beems": 2}), 422, "beems"),
    "empty text": (dict(json={"text": ["a b", "  "]}), 422, "text[1] is empty"),
    "no texts": (dict(json={"text": []}), 422, "text"),
    "a 1 MB text": (dict(json={"text": ["a " * 500_000]}), 413, "bytes"),
    "a long text": (dict(json={"text": ["a " * 150]}), 413, "text[0]: 300 characters"),
    "too many inputs": (dict(json={"text": ["a"] * 9}), 413, "9 inputs"),
    "non-UTF-8 bytes": (dict(content=b'{"text": ["\xff\xfe a"]}', headers={"content-type": "application/json"}), 400, "UTF-8"),
    "a lone surrogate": (dict(content=b'{"text": ["a \\ud800 b"]}', headers={"content-type": "application/json"}), 422, "Unicode"),
    "a huge beam": (dict(json={"text": ["a"], "beam": 1000}), 422, "beam must be between 1 and 16"),
    "a zero n-best": (dict(json={"text": ["a"], "n_best": 0}), 422, "n_best"),
    "a wrong content type": (dict(content=b"a b", headers={"content-type": "text/plain"}), 415, "text/plain"),
    "no content type": (dict(content=b'{"text": ["a b"]}'), 415, "(none)"),
    "a line break": (dict(json={"text": ["a b\nc d"]}), 422, "text[0] contains a line break"),
    "nested too deeply": (dict(content=b'{"text": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
                               headers={"content-type": "application/json"}), 400, "RecursionError"),
    "a number too long": (dict(content=b'{"text": ["a"], "beam": ' + b"9" * 5000 + b"}",
                               headers={"content-type": "application/json"}), 400, "not JSON this server reads"),
    "UTF-16 JSON": (dict(content='{"text": ["a b"]}'.encode("utf-16"), headers={"content-type": "application/json"}),
                    400, "not UTF-8"),
}


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_bad_translation_requests_get_a_4xx_naming_the_problem_and_serving_goes_on(client, case):
    request, status, words = BAD_REQUESTS[case]
    answer = client.post("/v1/translate", **request)
    assert answer.status_code == status, answer.text
    assert words in answer.json()["error"]
    assert client.post("/v1/translate", json={"text": ["a b"]}).status_code == 200


BAD_IMAGES = {
    "a file that is not an image": ([("images", ("notes.txt", b"just text", "text/plain"))], 422, "notes.txt: not an image"),
    "a truncated JPEG": (None, 422, "cut.jpg: corrupt or truncated"),
    "a 20000x20000 PNG": ([("images", ("bomb.png", solid_png(20000, 20000), "image/png"))], 413, "bomb.png"),
    "no image": ([], 422, "no image"),
    "a file in another field": ([("photo", ("a.png", b"x", "image/png"))], 422, "'images'"),
}


@pytest.mark.parametrize("case", list(BAD_IMAGES))
def test_bad_images_get_a_4xx_naming_the_image_and_serving_goes_on(client, case):
    files, status, words = BAD_IMAGES[case]
    if files is None:
        buffer = io.BytesIO()
        draw_shape("red", "circle").save(buffer, format="JPEG")
        files = [("images", ("cut.jpg", buffer.getvalue()[:400], "image/jpeg"))]
    answer = client.post("/v1/caption", files=files, data={"beam": "1"}) if files else client.post("/v1/caption", json={})
    assert answer.status_code == status, answer.text
    assert words in answer.json()["error"]
    good = [("images", ("ok.png", png_bytes(draw_shape("red", "circle")), "image/png"))]
    assert client.post("/v1/caption", files=good).status_code == 200


def test_bad_base64_and_unknown_routes_and_methods_are_named(client):
    answer = client.post("/v1/caption", json={"images": ["not base64!"]})
    assert answer.status_code == 422 and "images[0]: expected an image file in base64" in answer.json()["error"]
    missing = client.get("/v1/nothing")
    assert missing.status_code == 404 and missing.json()["error"] == "no such route: GET /v1/nothing"
    wrong = client.get("/v1/translate")
    assert wrong.status_code == 405 and "GET is not allowed on /v1/translate" in wrong.json()["error"]


def test_an_api_key_guards_every_api_route_but_not_health_or_the_page(served):
    with TestClient(create_app(served[:1], api_key=KEY)) as guarded:
        for method, route, body in [("post", "/v1/translate", {"text": ["a"]}), ("get", "/v1/models", None),
                                    ("get", "/metrics", None)]:
            missing = getattr(guarded, method)(route, **({"json": body} if body else {}))
            assert missing.status_code == 401 and "API key" in missing.json()["error"]
            assert missing.headers["www-authenticate"] == "Bearer"
            wrong = getattr(guarded, method)(route, headers={"Authorization": "Bearer nope"}, **({"json": body} if body else {}))
            assert wrong.status_code == 401 and wrong.json()["error"] == "wrong API key"
            right = getattr(guarded, method)(route, headers={"Authorization": f"Bearer {KEY}"}, **({"json": body} if body else {}))
            assert right.status_code == 200
        assert guarded.get("/health").status_code == 200 and guarded.get("/").status_code == 200


def test_binding_beyond_loopback_needs_a_key_or_insecure():
    check_binding("127.0.0.1", None, False)
    check_binding("::1", None, False)
    check_binding("localhost", None, False)
    check_binding("0.0.0.0", KEY, False)
    check_binding("0.0.0.0", None, True)
    with pytest.raises(ValueError, match="--api-key"):
        check_binding("0.0.0.0", None, False)
    with pytest.raises(ValueError, match="--api-key"):
        check_binding("example.org", None, False)


def test_named_models_and_ensembles_are_read_from_the_command_line():
    class Args:
        ckpt, model = ["a.ckpt", "b.ckpt"], ["de=c.ckpt+d.ckpt"]
    assert named_checkpoints(Args) == [("default", ["a.ckpt", "b.ckpt"]), ("de", ["c.ckpt", "d.ckpt"])]
    Args.ckpt, Args.model = [], ["oops"]
    with pytest.raises(ValueError, match="NAME=CKPT"):
        named_checkpoints(Args)


def test_a_full_queue_answers_503_with_retry_after(served):
    release = threading.Event()
    original = served[0].decode

    def slow(inputs, key):
        release.wait(10)
        return original(inputs, key)

    served[0].decode = slow
    try:
        app = create_app(served[:1], Limits(max_queue=2, max_inputs=2), Batching(max_batch=1, max_wait_ms=0))
        with TestClient(app) as busy:
            answers = []
            threads = [threading.Thread(target=lambda: answers.append(busy.post("/v1/translate", json={"text": ["a b"]})))
                       for _ in range(3)]
            for thread in threads:
                thread.start()
                time.sleep(0.3)
            full = busy.post("/v1/translate", json={"text": ["a", "b"]})
            release.set()
            for thread in threads:
                thread.join()
        assert full.status_code == 503 and full.headers["retry-after"] == "1" and "busy" in full.json()["error"]
        assert sorted(answer.status_code for answer in answers) == [200, 200, 200]  # 1 decoding + 2 waiting
    finally:
        served[0].decode = original


def test_a_failing_batch_is_decoded_again_request_by_request_so_only_the_culprit_fails():
    calls = []

    def decode(inputs, key):
        calls.append(list(inputs))
        if "boom" in inputs:
            raise RuntimeError("kernel failed")
        if "short" in inputs:
            return []  # a broken decode: fewer outputs than inputs
        return [[item.upper()] for item in inputs]

    async def scenario():
        batcher = DynamicBatcher(decode, max_batch=8, max_wait=0.05, max_queue=100)
        try:
            results = await asyncio.gather(batcher.submit(["a"], "k"), batcher.submit(["boom"], "k"),
                                           batcher.submit(["short"], "k"), return_exceptions=True)
            later = await batcher.submit(["b", "c"], "k")
        finally:
            batcher.stop()
        return results, later, batcher

    (good, boom, short), later, batcher = asyncio.run(scenario())
    assert good == [["A"]] and isinstance(boom, RuntimeError) and "kernel failed" in str(boom)
    assert isinstance(short, RuntimeError) and "0 outputs for 1 inputs" in str(short)
    assert calls[0] == ["a", "boom", "short"] and ["a"] in calls[1:]  # together first, then alone
    assert later == [["B"], ["C"]] and batcher.queued_inputs == 0 and not batcher.alive


def test_stopping_fails_the_requests_still_waiting_instead_of_decoding_them():
    started, release = threading.Event(), threading.Event()

    def decode(inputs, key):
        started.set()
        release.wait(10)
        return [[item] for item in inputs]

    async def scenario():
        batcher = DynamicBatcher(decode, max_batch=1, max_wait=0, max_queue=100)
        first = asyncio.ensure_future(batcher.submit(["x"], "k"))
        second = asyncio.ensure_future(batcher.submit(["y"], "k"))
        await asyncio.to_thread(started.wait, 10)
        stopping = asyncio.ensure_future(asyncio.to_thread(batcher.stop))
        await asyncio.sleep(0.2)
        release.set()
        await stopping
        return await asyncio.gather(first, second, return_exceptions=True), batcher

    (first, second), batcher = asyncio.run(scenario())
    assert first == [["x"]]  # the batch being decoded finishes
    assert isinstance(second, Stopped) and batcher.queued_inputs == 0


def test_a_loopback_server_answers_loopback_host_names_only(served):
    with TestClient(create_app(served[:1], allowed_hosts=["localhost", "127.0.0.1"]), base_url="http://127.0.0.1") as local:
        assert local.get("/health").status_code == 200
        assert local.get("/health", headers={"host": "evil.example"}).status_code == 400  # DNS rebinding


def test_the_batcher_groups_by_settings_caps_batches_and_splits_large_requests():
    sizes = []

    def decode(inputs, key):
        return [[f"{key}:{item}"] for item in inputs]

    async def scenario():
        batcher = DynamicBatcher(decode, max_batch=3, max_wait=0.05, max_queue=100, on_batch=sizes.append)
        try:
            return await asyncio.gather(batcher.submit(list("abcde"), "x"), batcher.submit(["f"], "y"),
                                        batcher.submit(["g"], "x"))
        finally:
            batcher.stop()

    big, other, small = asyncio.run(scenario())
    assert big == [[f"x:{c}"] for c in "abcde"] and other == [["y:f"]] and small == [["x:g"]]
    assert max(sizes) == 3 and sum(sizes) == 7  # no batch over max_batch; every input decoded once
