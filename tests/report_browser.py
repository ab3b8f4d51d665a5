"""A headless Chromium (Debian's chromium and chromium-driver, through Selenium) for report
pages: the browser tests' browser, and a screenshot of a report's first screen. The README's
screenshot is made with it from the committed reference run:

    python -m tests.report_browser results/reference-mnist/report.html docs/images/report.png
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from selenium import webdriver

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
WIDTH, HEIGHT = 1280, 1000  # a laptop's first screen


def set_viewport(driver: webdriver.Chrome, width: int = WIDTH, height: int = HEIGHT) -> None:
    """The page's own viewport (not the window, whose frame differs between Chromium
    versions) is ``width`` x ``height`` CSS pixels, one device pixel each."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})


@contextmanager
def chromium() -> Iterator[webdriver.Chrome]:
    """A headless Chromium with a 1280 x 1000 viewport that keeps the console's messages."""
    if CHROMIUM is None or CHROMEDRIVER is None:
        raise RuntimeError("headless Chromium not installed: "
                           "apt-get install chromium chromium-driver")
    options = webdriver.ChromeOptions()
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-background-networking", "--no-first-run",
                     f"--window-size={WIDTH},{HEIGHT}", "--hide-scrollbars"):
        options.add_argument(argument)
    options.binary_location = CHROMIUM
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=CHROMEDRIVER),
                              options=options)
    try:
        set_viewport(driver)
        yield driver
    finally:
        driver.quit()


def save_first_screen(page: Path | str, png: Path | str,
                      driver: webdriver.Chrome | None = None, height: int = HEIGHT) -> Path:
    """Opens the report page ``page`` and saves a PNG of its first ``height`` pixels, 1280
    wide, as a reader's first screen shows it; returns ``png``. Starts its own browser
    unless given ``driver``."""
    if driver is None:
        with chromium() as own:
            return save_first_screen(page, png, own, height)
    set_viewport(driver, WIDTH, height)
    try:
        driver.get(Path(page).resolve().as_uri())
        png = Path(png)
        png.parent.mkdir(parents=True, exist_ok=True)
        png.write_bytes(driver.get_screenshot_as_png())
    finally:
        set_viewport(driver)
    return png


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python -m tests.report_browser REPORT.html OUT.png")
    print(save_first_screen(sys.argv[1], sys.argv[2]))
