"""The page of `autotag serve` in a real headless browser (Debian's chromium and chromedriver,
installed by `make setup`): a person picks a song and sees the tags `autotag tag` gives it, its
nearest catalogue songs, an audio player; a file that is no audio gets the service's error."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import soundfile as sf

from tests.helpers import SR, run_cli, tone
from tests.serve_helpers import start_server

SHOWN = 15  # tags in the page's chart


@pytest.fixture
def browser(tmp_path):
    from selenium import webdriver

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    assert chromium and driver_path, (
        "the browser test needs Debian's chromium and chromium-driver: `make setup` installs "
        "them as root, else run `sudo apt-get install -y chromium chromium-driver`"
    )
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        opts.add_argument(arg)
    opts.add_argument("--window-size=1000,1400")
    service = webdriver.ChromeService(
        executable_path=driver_path, log_output=str(tmp_path / "cd.log")
    )
    driver = webdriver.Chrome(options=opts, service=service)
    try:
        yield driver
    finally:
        driver.quit()


def test_the_page_shows_the_tags_of_autotag_tag(model, mini_mtat, browser, tmp_path, capsys):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    catalogue = sorted((mini_mtat / "7").glob("*.mp3"))[:11]
    song = tmp_path / "a song.wav"
    sf.write(song, tone(6.0, ("guitar", "slow"), seed=9), SR)
    index = tmp_path / "catalogue.h5"
    code, _, _ = run_cli(capsys, "embed", *catalogue, song, "-m", model, "-o", index)
    assert code == 0
    code, out, _ = run_cli(capsys, "tag", song, "-m", model, "--json", "-k", str(SHOWN))
    assert code == 0
    (expected,) = json.loads(out)

    proc, url = start_server("-m", model, "--index", index, log=tmp_path / "serve.log")
    try:
        browser.get(url)
        wait = WebDriverWait(browser, 60)
        wait.until(lambda d: "tags" in d.find_element(By.ID, "model").text)
        browser.find_element(By.ID, "file").send_keys(str(song))
        wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-done"))
        rows = browser.find_elements(By.CSS_SELECTOR, "#chart .row")
        shown = [
            (r.get_attribute("data-tag"), float(r.get_attribute("data-probability")),
             r.get_attribute("data-present") == "true")
            for r in rows
        ]  # fmt: skip
        assert len(shown) == len(expected["top"]) == min(SHOWN, 4)  # the mini model: 4 tags
        # the chart's tags, in order, with autotag tag's probabilities (decoded in a one-thread
        # process there, so float rounding may move the 4th decimal)
        assert [t for t, _, _ in shown] == [t["tag"] for t in expected["top"]]
        for (_, p, _), want in zip(shown, expected["top"]):
            assert p == pytest.approx(want["probability"], abs=2e-4)
        marked = [t for t, _, present in shown if present]
        assert marked == [t for t in expected["present"] if t in marked] and marked
        assert set(marked) == set(expected["present"]) & {t for t, _, _ in shown}
        visible = [r.find_element(By.CLASS_NAME, "name").text for r in rows]
        assert visible[0].startswith(expected["top"][0]["tag"])
        # its nearest catalogue songs: itself first, then ten of the catalogue
        neighbours = browser.find_elements(By.CSS_SELECTOR, "#neighbours tr")
        assert len(neighbours) == 10
        assert neighbours[0].find_elements(By.TAG_NAME, "td")[1].text == song.name
        player = browser.find_element(By.ID, "player")
        assert player.get_attribute("src").startswith("blob:") and player.is_displayed()
        shot = tmp_path / "page.png"
        assert browser.save_screenshot(str(shot))
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000

        # a file that is no audio: the page shows the service's error, naming the file
        junk = tmp_path / "notes.mp3"
        junk.write_text("not a song")
        browser.find_element(By.ID, "file").send_keys(str(junk))
        status = browser.find_element(By.ID, "status")
        wait.until(lambda d: "error" in (status.get_attribute("class") or ""))
        assert "notes.mp3" in status.text and "not audio" in status.text
    finally:
        proc.terminate()
        assert proc.wait(timeout=60) == 0
    assert Path(shot).exists()
