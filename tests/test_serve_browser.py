"""The page of `captra serve` in a real headless Chromium (Debian's, driven by playwright): a sentence typed gives
its translation and alignment heatmap, an image chosen gives its caption, and a word shows its attention."""

import shutil

import httpx
import pytest

from captra.common.serve.process import serving
from tests.helpers import draw_shape

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/install installs it)")


@pytest.fixture(scope="module")
def page_server(two_checkpoints, tiny_captioner):
    _, best = two_checkpoints
    with serving("--model", f"reverse={best[0]}", "--model", f"shapes={tiny_captioner}") as running:
        yield running.url


@pytest.fixture()
def page(page_server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        tab = browser.new_page()
        errors = []
        tab.on("pageerror", lambda error: errors.append(str(error)))
        tab.goto(page_server)
        yield tab
        browser.close()
        assert errors == []  # no JavaScript error on the page


def test_typing_a_sentence_shows_its_translation_n_best_and_alignment_heatmap(page, page_server):
    section = page.locator('section[data-model="reverse"]')
    section.locator("textarea").fill("a b c d")
    section.locator("button[type=submit]").click()
    section.locator("table.alignment td").first.wait_for(timeout=30_000)
    expected = httpx.post(f"{page_server}/v1/translate", json={"text": ["a b c d"], "n_best": 3, "attention": True}).json()
    outputs, attention = expected["results"][0]["outputs"], expected["results"][0]["attention"]
    assert section.locator("ol.nbest li .text").all_text_contents() == [t["text"] for t in outputs]
    assert section.locator("table.alignment thead th").count() == 1 + len(attention["input_tokens"])
    assert section.locator("table.alignment tbody tr").count() == len(attention["output_tokens"])
    assert section.locator("button[type=submit]").text_content() == "Translate"  # the endpoint's verb
    shades = section.locator("table.alignment td").evaluate_all("cells => cells.map(c => c.style.background)")
    assert len(set(shades)) > 1  # the cells are shaded by their weights
    assert "translation" in section.locator("details.card").text_content()  # the model card


def test_choosing_an_image_shows_its_caption_and_a_word_shows_its_attention(page, page_server, tmp_path):
    picture = tmp_path / "shape.png"
    draw_shape("green", "triangle", (180, 120)).save(picture)
    section = page.locator('section[data-model="shapes"]')
    section.locator("input[type=file]").set_input_files(str(picture))
    section.locator(".word").first.wait_for(timeout=30_000)
    with picture.open("rb") as handle:
        expected = httpx.post(f"{page_server}/v1/caption", files=[("images", ("shape.png", handle.read(), "image/png"))],
                              data={"n_best": "3", "attention": "true"}).json()["results"][0]
    words = expected["attention"]["output_tokens"]
    assert section.locator(".word").all_text_contents() == words
    assert section.locator("ol.nbest li .text").all_text_contents() == [c["text"] for c in expected["outputs"]]
    section.locator(".word").nth(0).hover()
    canvas = section.locator("canvas")
    assert canvas.get_attribute("data-word") == words[0]
    alphas = canvas.evaluate("c => Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data)"
                             ".filter((_, i) => i % 4 === 3)")
    rows, columns = expected["attention"]["grid"]
    assert len(alphas) == rows * columns and len(set(alphas)) > 1  # the word's weights darken the picture unevenly
