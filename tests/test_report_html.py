"""report.html in a real browser: headless Chromium (Debian's chromium and chromium-driver)
through Selenium opens the page a real run wrote, as a person would open the file."""

from __future__ import annotations

import io
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
from click.testing import Result

pytest.importorskip("selenium", reason="selenium not installed (pip install -e '.[dev]')")
from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.common.by import By

Cli = Callable[..., Result]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="headless Chromium not installed: apt-get install chromium chromium-driver")

HOSTILE = """<script>alert(1)</script> <b>bold</b> & " '"""
HOSTILE_PLUGIN = f'''
import mlbench

class Hostile(mlbench.Model):
    """{HOSTILE}"""
    name = "hostile"
    description = {HOSTILE!r}
    defaults = {{"note": {HOSTILE!r}}}

    def fit(self, X, y):
        raise RuntimeError({HOSTILE!r})

    def predict(self, X):
        raise AssertionError("never fitted")


@mlbench.hookimpl
def mlbench_register_models(register):
    register(Hostile)
'''


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-background-networking", "--no-first-run",
                     "--window-size=1280,1000"):
        options.add_argument(argument)
    options.binary_location = str(CHROMIUM)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = webdriver.ChromeService(executable_path=str(CHROMEDRIVER))
    driver = webdriver.Chrome(service=service, options=options)
    try:
        yield driver
    finally:
        driver.quit()


def only_run(tmp_path: Path) -> Path:
    (run,) = [p for p in (tmp_path / "results").iterdir() if p.is_dir()]
    return run


def open_report(browser: webdriver.Chrome, run: Path) -> str:
    """Opens run/report.html; returns the page's visible text. Fails on console errors."""
    page = run / "report.html"
    html = page.read_text()
    # Works offline: nothing is fetched from anywhere (images are data URIs).
    assert "http://" not in html and "https://" not in html
    browser.get_log("browser")  # drop what an earlier page logged
    browser.get(page.as_uri())
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == []
    return str(browser.find_element(By.TAG_NAME, "body").text)


def test_report_page_in_a_browser(cli: Cli, tmp_path: Path,
                                  browser: webdriver.Chrome) -> None:
    models = ["knn", "naive-bayes", "logistic"]
    result = cli("run", "-m", ",".join(models), "-d", "digits", "--repeats", "2", "-q",
                 report=True)
    assert result.exit_code == 0, result.output
    run = only_run(tmp_path)
    text = open_report(browser, run)

    for model in models:
        assert model in text
    assert "Most accurate: " in text and "Fastest to fit (training alone): " in text
    assert "Fastest to predict the 360 test images: " in text
    # Every image decoded and shown: charts and galleries.
    sizes = browser.execute_script(
        "return Array.from(document.images, i => [i.complete, i.naturalWidth, i.src.length])")
    assert len(sizes) == 7
    assert all(complete and width > 0 for complete, width, _ in sizes), sizes
    sources = browser.execute_script("return Array.from(document.images, i => i.src)")
    assert all(source.startswith("data:image/png;base64,") for source in sources)

    # A page a person can see: many colours, not a white sheet.
    screenshot = browser.get_screenshot_as_png()
    pixels = matplotlib.image.imread(io.BytesIO(screenshot), format="png")
    assert pixels.shape[1] >= 1000
    colours = np.unique(pixels[..., :3].reshape(-1, 3), axis=0)
    assert len(colours) > 50
    assert (pixels[..., :3] < 0.9).any(axis=-1).mean() > 0.01  # ink on more than 1%


def test_plugin_text_is_shown_not_run(cli: Cli, tmp_path: Path, browser: webdriver.Chrome,
                                      write_plugin: Callable[[str, str], Path]) -> None:
    # The plugin's file name (its plugin name), docstring, default param and error are
    # all HTML; the page must show each as text.
    plugin = write_plugin("""evil<b>bold</b>&"'""".replace("/", ""), HOSTILE_PLUGIN)
    result = cli("run", "--plugin", str(plugin), "-m", "hostile,naive-bayes", "-d", "digits",
                 "-q", report=True)
    assert result.exit_code == 1, result.output  # hostile failed, naive-bayes ran
    run = only_run(tmp_path)
    text = open_report(browser, run)

    assert HOSTILE in text  # the error, shown as written
    assert "note=" + HOSTILE in text  # the param
    assert """evil<b>bold<b>&"'""" in text  # the plugin's name
    assert "hostile" in text and "naive-bayes" in text
    assert browser.find_elements(By.TAG_NAME, "b") == []
    assert browser.find_elements(By.TAG_NAME, "script") == []
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text  # noqa: B018 - reading it is the check
