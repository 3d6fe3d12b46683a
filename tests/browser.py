"""Open a local HTML page in Debian's headless chromium (via Playwright, no browser download) and
report what rendered: every <img>'s natural size and a per-image pixel spread from element screenshots."""

from __future__ import annotations

import io
import shutil
from dataclasses import dataclass
from pathlib import Path

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@dataclass
class RenderedImage:
    alt: str
    natural_width: int
    natural_height: int
    pixel_std: float


@dataclass
class RenderedPage:
    images: list[RenderedImage]
    page_width: int
    viewport_width: int
    page_pixel_std: float


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def render_page(path: Path, viewport_width: int = 1366) -> RenderedPage:
    """Load ``path`` in headless chromium and measure every image (blank images have ~0 pixel spread)."""
    import numpy as np
    from PIL import Image
    from playwright.sync_api import sync_playwright

    def spread(png: bytes) -> float:
        return float(np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=np.float32).std())

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": viewport_width, "height": 900})
            page.goto(Path(path).resolve().as_uri(), wait_until="load")
            images = []
            for handle in page.query_selector_all("img"):
                w, h, alt = handle.evaluate("i => [i.naturalWidth, i.naturalHeight, i.alt]")
                handle.scroll_into_view_if_needed()
                images.append(RenderedImage(alt, int(w), int(h), spread(handle.screenshot())))
            page_width = int(page.evaluate("document.documentElement.scrollWidth"))
            full = spread(page.screenshot(full_page=True))
        finally:
            browser.close()
    return RenderedPage(images, page_width, viewport_width, full)
