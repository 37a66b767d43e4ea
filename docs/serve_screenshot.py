"""The README's picture of the `captra serve` page: a translation with its alignment heatmap and a caption with
one word's attention over the image, taken in headless Chromium (Debian's, driven by playwright).

    python docs/serve_screenshot.py --ckpt TRANSLATION.ckpt --caption-ckpt CAPTION.ckpt --image IMAGE.jpg \
        [--sentence "A man in a blue shirt is riding a bike."] [--word 2] [--out docs/serve_page.png]
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from captra.common.serve.process import serving


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ckpt", required=True, help="a translation checkpoint")
    parser.add_argument("--caption-ckpt", required=True, help="a captioning checkpoint")
    parser.add_argument("--image", type=Path, required=True, help="the image to caption")
    parser.add_argument("--sentence", default="A man in a blue shirt is riding a bike.")
    parser.add_argument("--word", type=int, default=1, help="the caption word whose attention is shown (from 0)")
    parser.add_argument("--out", type=Path, default=Path("docs/serve_page.png"))
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with serving("--model", f"translation={args.ckpt}", "--model", f"captioning={args.caption_ckpt}") as server, \
            sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        page.goto(server.url)
        text = page.locator('section[data-model="translation"]')
        text.locator("textarea").fill(args.sentence)
        text.locator("button[type=submit]").click()
        text.locator("table.alignment td").first.wait_for(timeout=60_000)
        image = page.locator('section[data-model="captioning"]')
        image.locator("input[type=file]").set_input_files(str(args.image))
        image.locator(".word").first.wait_for(timeout=60_000)
        image.locator(".word").nth(args.word).hover()
        page.screenshot(path=str(args.out), full_page=True)
        browser.close()
    print(args.out)


if __name__ == "__main__":
    main()
