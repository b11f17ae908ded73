"""Make docs/serve.png, the README's picture of `autotag serve`'s page: musicnn's MTT model, a
catalogue of the four real-music clips of tests/fixtures/musicnn and 40 songs of the synthetic
corpus, and one real clip dropped on the page. Needs `make setup` (chromium, the musicnn wheel)
and the synthetic corpus (`make train` makes it).

    .venv/bin/python docs/serve_screenshot.py [--song tests/fixtures/musicnn/rock_metal.wav]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.serve_helpers import start_server  # noqa: E402

MODEL = "musicnn:MTT_musicnn"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--song", default=str(ROOT / "tests/fixtures/musicnn/rock_metal.wav"))
    ap.add_argument("--out", default=str(ROOT / "docs/serve.png"))
    args = ap.parse_args()
    from selenium import webdriver
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from autotag.cli import main as autotag

    work = Path(tempfile.mkdtemp(prefix="autotag-shot-"))
    real = sorted((ROOT / "tests/fixtures/musicnn").glob("*.wav"))
    synthetic = sorted((ROOT / "data/synthetic").rglob("*.mp3"))[:40]
    index = work / "catalogue.h5"
    assert autotag(["embed", *map(str, real + synthetic), "-m", MODEL, "-o", str(index)]) == 0
    proc, url = start_server("-m", MODEL, "--index", index, log=work / "serve.log")
    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium")
    for a in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=900,1460",
    ):
        opts.add_argument(a)
    driver = webdriver.Chrome(opts, webdriver.ChromeService(shutil.which("chromedriver")))
    try:
        driver.get(url)
        wait = WebDriverWait(driver, 120)
        wait.until(lambda d: "tags" in d.find_element(By.ID, "model").text)
        driver.find_element(By.ID, "file").send_keys(args.song)
        wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-done"))
        driver.save_screenshot(args.out)
        print(f"wrote {args.out}")
    finally:
        driver.quit()
        proc.terminate()
        proc.wait(timeout=60)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
