"""`captra serve` as a real process on loopback: many concurrent clients answered without errors and exactly as
offline decoding answers, a client that disconnects mid-request, and SIGTERM finishing the requests in flight."""

import json
import signal
import socket
import threading
import time

import httpx
import pytest
import torch

from captra.common.checkpoints.loading import load_module
from captra.common.cli.inference import decoding_config
from captra.translation.translate import translate_scored
from captra.common.serve.process import serving
from tests.helpers import run_captra

CLIENTS, REQUESTS = 32, 20
POOL = [" ".join("abcdefg"[(i * 3 + j) % 7] for j in range(1 + i % 6)) for i in range(20)]


@pytest.fixture(scope="module")
def offline(two_checkpoints):
    _, best = two_checkpoints
    module = load_module(best[0])
    encoded = [module.texts["src"].encode(sentence) for sentence in POOL]
    translations = translate_scored(module, encoded, decoding_config(module.search_config, None), 64, torch.device("cpu"))
    return {sentence: nbest[0][0] for sentence, nbest in zip(POOL, translations)}


@pytest.fixture(scope="module")
def server(two_checkpoints):
    _, best = two_checkpoints
    with serving("--ckpt", str(best[0]), "--max-batch", "16", "--max-wait-ms", "5") as running:
        yield running.url


def test_32_concurrent_clients_get_no_errors_and_the_offline_outputs(server, offline):
    failures, wrong, answered = [], [], []

    def client(number: int) -> None:
        with httpx.Client(base_url=server, timeout=60) as session:
            for request in range(REQUESTS):
                sentence = POOL[(number * 7 + request) % len(POOL)]
                response = session.post("/v1/translate", json={"text": [sentence]})
                if response.status_code != 200:
                    failures.append((response.status_code, response.text))
                    continue
                answered.append(sentence)
                if response.json()["results"][0]["outputs"][0]["text"] != offline[sentence]:
                    wrong.append(sentence)

    threads = [threading.Thread(target=client, args=(number,)) for number in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == [] and wrong == [] and len(answered) == CLIENTS * REQUESTS
    metrics = httpx.get(f"{server}/metrics").text
    count = next(float(line.split()[-1]) for line in metrics.splitlines() if line.startswith("captra_batch_size_count"))
    assert count < CLIENTS * REQUESTS  # requests were decoded together, not one by one


def test_a_client_that_disconnects_mid_request_does_not_break_the_others(server, offline):
    host, port = server.removeprefix("http://").split(":")
    body = json.dumps({"text": POOL[:8]}).encode()
    results = []

    def patient() -> None:
        results.append(httpx.post(f"{server}/v1/translate", json={"text": POOL[8:16]}, timeout=60))

    others = [threading.Thread(target=patient) for _ in range(4)]
    for thread in others:
        thread.start()
    for _ in range(4):  # send a whole request, then hang up before the answer; and half a request
        with socket.create_connection((host, int(port))) as rude:
            rude.sendall(b"POST /v1/translate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\n\r\n" % len(body) + body)
        with socket.create_connection((host, int(port))) as rude:
            rude.sendall(b"POST /v1/translate HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"text\"")
    for thread in others:
        thread.join()
    assert [response.status_code for response in results] == [200] * 4
    expected = [offline[sentence] for sentence in POOL[8:16]]
    assert all([r["outputs"][0]["text"] for r in response.json()["results"]] == expected for response in results)
    assert httpx.get(f"{server}/health").json()["status"] == "ok"


def test_sigterm_finishes_the_requests_in_flight_then_exits(two_checkpoints, offline):
    _, best = two_checkpoints
    with serving("--ckpt", str(best[0]), "--max-wait-ms", "800") as running:
        url, process = running.url, running.process
        results = []

        def ask(sentence: str) -> None:
            try:
                results.append(httpx.post(f"{url}/v1/translate", json={"text": [sentence]}, timeout=60))
            except httpx.HTTPError as failure:
                results.append(failure)

        threads = [threading.Thread(target=ask, args=(sentence,)) for sentence in POOL[:6]]
        for thread in threads:
            thread.start()
        time.sleep(0.4)  # the requests wait in the batcher (800 ms)
        process.send_signal(signal.SIGTERM)
        for thread in threads:
            thread.join()
        # uvicorn drains, shuts the app down (the batcher's worker ends), then re-raises the signal: the exit status
        # says the process ended on SIGTERM, as a supervisor expects
        assert process.wait(timeout=60) == -signal.SIGTERM
        assert "Traceback" not in running.stderr()
    assert all(isinstance(result, httpx.Response) and result.status_code == 200 for result in results), results
    assert sorted(r.json()["results"][0]["outputs"][0]["text"] for r in results) == sorted(offline[s] for s in POOL[:6])
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/health")


def test_serve_refuses_a_public_address_without_a_key(two_checkpoints):
    _, best = two_checkpoints
    result = run_captra("serve", "--ckpt", str(best[0]), "--host", "0.0.0.0")
    assert result.returncode == 2 and "--api-key" in result.stderr and "--insecure" in result.stderr
