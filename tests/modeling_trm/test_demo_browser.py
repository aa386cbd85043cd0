"""`trm demo` in a real browser: headless Chromium (Debian's package, driven by Selenium through the
system chromedriver; nothing is downloaded) types a puzzle, solves it, moves the step slider and reads
what the page shows. `.ci/run` installs Chromium; on a machine without it the test is skipped, in CI it fails.

Set ``TRM_DEMO_MODEL`` to a model folder to drive the page with it (default: a tiny untrained model)
and ``TRM_DEMO_SCREENSHOT`` to a PNG path to keep the screenshot (the README's is made this way).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from test_refinement import tiny_model

gradio = pytest.importorskip("gradio")
IN_CI = bool(os.environ.get("CI"))
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")


def require_browser():
    missing = [name for name, path in (("chromium", CHROMIUM), ("chromedriver", CHROMEDRIVER)) if path is None]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("selenium (the dev extra)")
    if missing:
        message = f"not installed: {', '.join(missing)} (apt-get install chromium chromium-driver; .ci/run does)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture
def browser():
    require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1300,1650"):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))  # no Selenium Manager download
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def demo_model():
    from modeling_trm.demo import DemoModel, load_demo_model

    if os.environ.get("TRM_DEMO_MODEL"):
        return load_demo_model(os.environ["TRM_DEMO_MODEL"])
    model, processor = tiny_model("sudoku", 6)
    return DemoModel("tiny 6x6 sudoku (untrained)", model, processor)


def test_solve_move_the_slider_and_see_an_error_in_the_browser(browser, demo_model, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    from modeling_trm.demo import build_app, parse_puzzle, random_puzzle

    processor, model = demo_model.processor, demo_model.model
    puzzle = random_puzzle(processor, difficulty=0, seed=1)  # the page's printed form, box rules included
    steps = demo_model.default_steps
    inputs = processor([parse_puzzle(processor.task, puzzle)])
    expected = model.solve(**inputs, max_steps=steps, halting="fixed", return_intermediate=True)
    problem = processor.check_solution(inputs["input_ids"][0], expected.predictions[0])
    verdict = "The final answer is a valid solution." if problem is None else (
        f"The final answer is not a valid solution: {problem}.")

    app = build_app([demo_model])
    _, url, _ = app.launch(server_name="127.0.0.1", prevent_thread_lock=True, quiet=True)
    try:
        browser.get(url)
        wait = WebDriverWait(browser, 60)
        puzzle_box = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#trm-puzzle textarea"))
        status = browser.find_element(By.ID, "trm-status")
        grid_box = browser.find_element(By.CSS_SELECTOR, "#trm-grid textarea")

        def grid_shown(tokens):
            text = processor.to_text(processor.decode(tokens))
            wait.until(lambda d: grid_box.get_attribute("value") == text,
                       message=f"expected the grid\n{text}\ngot\n{grid_box.get_attribute('value')}")

        puzzle_box.send_keys(puzzle)
        browser.find_element(By.CSS_SELECTOR, "#trm-solve").click()
        wait.until(lambda d: "valid solution" in status.text, message="no verdict after Solve")
        assert verdict in status.text
        grid_shown(expected.predictions[0])

        slider = browser.find_element(By.CSS_SELECTOR, "#trm-step input[type=range]")
        assert slider.get_attribute("max") == str(steps)
        slider.send_keys(Keys.HOME)  # step 0: the puzzle itself
        grid_shown(inputs["input_ids"][0])
        slider.send_keys(Keys.ARROW_RIGHT)  # step 1
        grid_shown(expected.intermediate_predictions[0, 0])
        caption = browser.find_element(By.ID, "trm-caption")
        wait.until(lambda d: caption.text.startswith(f"Step 1 of {steps}:"))
        slider.send_keys(Keys.END)
        grid_shown(expected.predictions[0])
        wait.until(lambda d: caption.text.startswith(f"Step {steps} of {steps}:"))
        browser.find_element(By.ID, "trm-play").click()  # plays from step 0 through every step to the last
        wait.until(lambda d: caption.text.startswith(f"Step 2 of {steps}:"), message="Play did not advance")
        wait.until(lambda d: caption.text.startswith(f"Step {steps} of {steps}:"), message="Play did not finish")
        grid_shown(expected.predictions[0])
        browser.save_screenshot(str(tmp_path / "demo.png"))
        if os.environ.get("TRM_DEMO_SCREENSHOT"):
            shutil.copy(tmp_path / "demo.png", Path(os.environ["TRM_DEMO_SCREENSHOT"]))

        # a bad grid: a given digit repeated in its row is refused, naming both cells
        cells = list(parse_puzzle(processor.task, puzzle))
        first = next(i for i, char in enumerate(cells) if char != ".")
        row = first // processor.grid_size
        blank = next(i for i in range(row * processor.grid_size, (row + 1) * processor.grid_size) if cells[i] == ".")
        cells[blank] = cells[first]
        message = processor.givens_problem(_tokens(cells))
        puzzle_box.clear()
        puzzle_box.send_keys("".join(cells))
        browser.find_element(By.CSS_SELECTOR, "#trm-solve").click()
        wait.until(lambda d: "Invalid input" in status.text, message="no error shown for a bad grid")
        assert f"Invalid input: {message}" in status.text
        assert message.startswith(f"row {row} has two {cells[first]}s")
    finally:
        app.close()


def _tokens(cells):
    """Sudoku token ids of a grid, bypassing the processor's givens check (which refuses this one)."""
    return [1 if char == "." else int(char) + 1 for char in cells]
