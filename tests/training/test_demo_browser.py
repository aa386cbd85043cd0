"""`trm demo` in a real browser, used as a first-time visitor would: headless Chromium (Debian's package,
driven by Selenium through the system chromedriver; nothing is downloaded) at 1400x1000 and 800x900
clicks an example, watches it play, moves the step slider, types bad puzzles and switches models, and
reads what the page shows and where. `.ci/run` installs Chromium; on a machine without it the test is
skipped, in CI it fails.

Set ``TRM_DEMO_MODEL`` to a model folder to drive the page with it (default: a tiny untrained model)
and ``TRM_DEMO_SCREENSHOT`` to a PNG path to keep the 1400x1000 screenshot (the README's is made this way).
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
from test_refinement import SUDOKU_6X6, tiny_model

gradio = pytest.importorskip("gradio")
IN_CI = bool(os.environ.get("CI"))
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
NINE_BY_NINE = "..3.2.6..9..3.5..1..18.64....81.29..7.......8..67.82....26.95..8..2.3..9..5.1.3.."


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
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))  # no Selenium Manager download
    try:
        yield driver
    finally:
        driver.quit()


def open_page(browser, app, width: int, height: int):
    """The app served on 127.0.0.1, opened in a ``width`` x ``height`` viewport (the visible page, without
    the browser's own bars); returns a 60 s `WebDriverWait`."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from training.demo import launch_app

    _, url, _ = launch_app(app, server_name="127.0.0.1", prevent_thread_lock=True, quiet=True)
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
    browser.get(url)
    wait = WebDriverWait(browser, 60)
    wait.until(lambda d: all(d.find_elements(By.CSS_SELECTOR, selector) for selector in
                             ("#trm-puzzle textarea", "#trm-status", "#trm-verdict", "#trm-how", "#trm-plot")))
    assert browser.execute_script("return [innerWidth, innerHeight]") == [width, height]
    return wait


def box(browser, selector: str) -> dict:
    """The element's place on the page: left, top, right, bottom, width, height (CSS pixels)."""
    return browser.execute_script("const r = document.querySelector(arguments[0]).getBoundingClientRect();"
                                  "return {left: r.left, top: r.top, right: r.right, bottom: r.bottom,"
                                  " width: r.width, height: r.height};", selector)


def style(browser, selector: str, name: str) -> str:
    return browser.execute_script("return getComputedStyle(document.querySelector(arguments[0]))[arguments[1]]",
                                  selector, name)


def slider_and_caption(browser) -> tuple[int, str]:
    """The step slider's value and the caption, read in one go (a change between two reads cannot split them)."""
    value, caption = browser.execute_script(
        "return [document.querySelector('#trm-step input[type=range]').value,"
        " document.querySelector('#trm-caption').innerText]")
    return int(value), caption


def watch_play(browser, steps: int, timeout: float = 60) -> list[int]:
    """The steps the page shows while it plays, until the last; at every look the slider and the caption
    under the picture show the same step (the slider never runs ahead of the picture)."""
    seen, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        value, caption = slider_and_caption(browser)
        if caption.startswith("Step "):
            assert caption.startswith((f"Step {value} of {steps}:", f"Step {value}:")), (value, caption)
            if not seen or seen[-1] != value:
                seen.append(value)
            if value == steps and len(seen) > 1:
                return seen
        time.sleep(0.05)
    pytest.fail(f"Play did not reach step {steps}: saw steps {seen}")


@pytest.fixture
def demo_model():
    from training.demo import DemoModel, load_demo_model

    if os.environ.get("TRM_DEMO_MODEL"):
        return load_demo_model(os.environ["TRM_DEMO_MODEL"])
    model, processor = tiny_model("sudoku", 6)
    return DemoModel("tiny 6x6 sudoku (untrained)", model, processor)


def test_a_first_visit_at_1400x1000(browser, demo_model, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    from training.demo import build_app, parse_puzzle, showcase_puzzles, text_box_lines
    from training.refinement import refine

    processor, model, steps = demo_model.processor, demo_model.model, demo_model.default_steps
    example_text, example_label = showcase_puzzles(demo_model)[0]
    expected = refine(model, processor, parse_puzzle("sudoku", example_text), max_steps=steps, halting="fixed")

    app = build_app([demo_model])
    try:
        wait = open_page(browser, app, 1400, 1000)
        puzzle_box = browser.find_element(By.CSS_SELECTOR, "#trm-puzzle textarea")
        status, verdict = browser.find_element(By.ID, "trm-status"), browser.find_element(By.ID, "trm-verdict")
        grid_box = browser.find_element(By.CSS_SELECTOR, "#trm-grid textarea")

        def grid_shown(tokens):
            text = processor.to_text(processor.decode(tokens))
            wait.until(lambda d: grid_box.get_attribute("value") == text,
                       message=f"expected the grid\n{text}\ngot\n{grid_box.get_attribute('value')}")

        def verdict_says(step):  # green for a valid solution, red for a broken rule
            valid = expected.problems[step - 1] is None
            wait.until(lambda d: f"step {step}: " in verdict.text, message=f"no verdict for step {step}")
            badge = "#trm-verdict .trm-badge"
            assert browser.find_element(By.CSS_SELECTOR, badge).get_attribute("class").endswith(
                "trm-valid" if valid else "trm-invalid")
            assert style(browser, badge, "backgroundColor") == ("rgb(230, 246, 234)" if valid else "rgb(253, 236, 234)")

        # a small box sized to the puzzle, grids in a monospace font so the box rules line up
        assert puzzle_box.get_attribute("rows") == str(text_box_lines(processor))
        for selector in ("#trm-puzzle textarea", "#trm-grid textarea"):
            assert "monospace" in style(browser, selector, "fontFamily")
        # a Sudoku model: no ARC inputs; the settings folded away; the explanation with the model's numbers
        assert not browser.find_elements(By.ID, "trm-upload") and not browser.find_elements(By.ID, "trm-task-id")
        assert browser.find_element(By.ID, "trm-random").is_displayed()
        assert not browser.find_elements(By.ID, "trm-max-steps")  # inside the closed Settings accordion
        how = " ".join(browser.find_element(By.ID, "trm-how").text.split())
        assert "answer y" in how and "latent z" in how and f"up to {model.config.max_supervision_steps} steps" in how

        # the examples: a click fills the box, solves and plays every step
        examples = browser.find_elements(By.CSS_SELECTOR, "[id^=trm-examples] button.gallery-item")
        assert examples[0].text == example_label
        examples[0].click()
        wait.until(lambda d: puzzle_box.get_attribute("value") == example_text)
        assert watch_play(browser, steps)[-1] == steps
        grid_shown(expected.step_ids[-1])
        verdict_says(steps)
        final = "a **valid solution**" if expected.final_problem is None else "**not a valid solution**"
        assert browser.find_element(By.ID, "trm-summary").text.startswith(
            f"The final answer is {final.replace('**', '')}")

        # above the fold: the input, Solve, the answer picture, Play and the verdict beside the picture
        assert browser.execute_script("return scrollY") == 0
        for selector in ("#trm-puzzle textarea", "#trm-solve", "#trm-picture", "#trm-play", "#trm-verdict .trm-badge"):
            assert 0 <= box(browser, selector)["top"] and box(browser, selector)["bottom"] <= 1000, selector
        picture, badge = box(browser, "#trm-picture"), box(browser, "#trm-verdict .trm-badge")
        assert badge["left"] >= picture["right"] and badge["top"] < picture["bottom"]
        # the halting plot: no Gradio label badge over its top
        assert not browser.find_elements(By.CSS_SELECTOR, "#trm-plot label[data-testid=block-label]:not(.hide)")

        # the step slider: step 0 is the puzzle, each step its grid, the verdict of that step
        slider = browser.find_element(By.CSS_SELECTOR, "#trm-step input[type=range]")
        slider.send_keys(Keys.HOME)
        grid_shown(expected.input_ids)
        wait.until(lambda d: "the puzzle as given" in verdict.text)
        slider.send_keys(Keys.ARROW_RIGHT)
        grid_shown(expected.step_ids[0])
        verdict_says(1)
        # the README's screenshot: the last step before the answer becomes valid (red and yellow cells), or the last
        valid = [step for step in range(1, steps + 1) if expected.problems[step - 1] is None]
        shown = max(valid[0] - 1, 1) if valid else steps
        for _ in range(shown - 1):
            slider.send_keys(Keys.ARROW_RIGHT)
        wait.until(lambda d: slider_and_caption(d)[1].startswith(f"Step {shown} of"),
                   message=f"step {shown} not shown: {slider_and_caption(browser)}")
        grid_shown(expected.step_ids[shown - 1])
        browser.save_screenshot(str(tmp_path / "demo.png"))
        if os.environ.get("TRM_DEMO_SCREENSHOT"):
            shutil.copy(tmp_path / "demo.png", Path(os.environ["TRM_DEMO_SCREENSHOT"]))

        # errors a person understands, in red
        def error_shown(text, message):
            puzzle_box.clear()
            puzzle_box.send_keys(text)
            browser.find_element(By.ID, "trm-solve").click()
            wait.until(lambda d: f"Invalid input: {message}" in status.text, message=f"expected the error {message!r}")
            assert style(browser, "#trm-status .trm-error", "color") == "rgb(166, 27, 18)"

        size = processor.grid_size
        if size != 9:
            error_shown(NINE_BY_NINE, f"this is a 9×9 Sudoku; this model solves {size}×{size} Sudokus")
        error_shown("..?", "'?' at line 1, character 3 is not a cell")
        cells = parse_puzzle("sudoku", example_text)
        first = next(i for i, char in enumerate(cells) if char != ".")
        row = first // size
        blank = next(i for i in range(row * size, (row + 1) * size) if cells[i] == ".")
        clash = cells[:blank] + cells[first] + cells[blank + 1 :]  # a given repeated in its row
        error_shown(clash, f"row {row + 1} has two {cells[first]}s")  # rows counted from 1

        # a new random puzzle clears the old answer
        examples[0].click()
        wait.until(lambda d: "Invalid input" not in status.text and f"step {steps}:" in verdict.text)
        browser.find_element(By.ID, "trm-random").click()
        wait.until(lambda d: puzzle_box.get_attribute("value") not in (example_text, clash))
        wait.until(lambda d: verdict.text == "" and grid_box.get_attribute("value") == "")
        assert not browser.find_elements(By.CSS_SELECTOR, "#trm-picture img, #trm-plot img")
    finally:
        app.close()


def test_each_model_gets_its_own_controls_at_800x900(browser):
    from selenium.webdriver.common.by import By

    from modeling_trm import PuzzleProcessor
    from training.demo import DemoModel, build_app

    sudoku, sudoku_processor = tiny_model("sudoku", 6)
    maze, maze_processor = tiny_model("maze", 5)
    arc, _ = tiny_model("arc", 30, num_puzzle_identifiers=2)
    app = build_app([DemoModel("sudoku6x6", sudoku, sudoku_processor), DemoModel("maze", maze, maze_processor),
                     DemoModel("arc", arc, PuzzleProcessor("arc", puzzle_identifiers=["<blank>", "0a1b2c3d"]))])

    def choose(name):
        browser.find_element(By.CSS_SELECTOR, "#trm-model input").click()
        options = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#trm-model li[role=option]"))
        assert [option.get_attribute("aria-label") for option in options] == ["sudoku6x6", "maze", "arc"]  # not paths
        next(option for option in options if option.get_attribute("aria-label") == name).click()
        wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#trm-model input").get_attribute("value") == name)

    try:
        wait = open_page(browser, app, 800, 900)
        assert browser.execute_script("return document.documentElement.scrollWidth") <= 800  # nothing sideways

        choose("arc")  # an ARC task is uploaded or pasted: no generator, no Sudoku examples
        wait.until(lambda d: d.find_elements(By.ID, "trm-upload"))
        assert not browser.find_elements(By.ID, "trm-random")
        assert not any(element.is_displayed() for element in browser.find_elements(By.CSS_SELECTOR, "[id^=trm-examples]"))
        assert "ARC task JSON" in browser.find_element(By.CSS_SELECTOR, "#trm-puzzle textarea").get_attribute("placeholder")
        upload = box(browser, "#trm-upload")  # nothing covers the upload button: its middle is the button
        assert browser.execute_script("return document.elementFromPoint(arguments[0], arguments[1]).closest('#trm-upload') !== null",
                                      upload["left"] + upload["width"] / 2, upload["top"] + upload["height"] / 2)

        choose("maze")
        wait.until(lambda d: d.find_elements(By.ID, "trm-random"))
        assert not browser.find_elements(By.ID, "trm-upload")
        puzzle_box = browser.find_element(By.CSS_SELECTOR, "#trm-puzzle textarea")
        assert "'#' wall" in puzzle_box.get_attribute("placeholder") and puzzle_box.get_attribute("rows") == "5"

        choose("sudoku6x6")
        wait.until(lambda d: "'.' or '0' for a blank" in puzzle_box.get_attribute("placeholder"))
        browser.find_element(By.CSS_SELECTOR, "#trm-settings button.label-wrap").click()
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#trm-difficulty span[data-testid=block-info]"))
        label = "#trm-difficulty span[data-testid=block-info]"  # one line, not four
        assert box(browser, label)["height"] < 1.6 * float(style(browser, label, "lineHeight").removesuffix("px"))
        assert browser.execute_script("return document.documentElement.scrollWidth") <= 800

        puzzle_box.send_keys(SUDOKU_6X6)
        browser.find_element(By.ID, "trm-solve").click()
        wait.until(lambda d: "step 3:" in d.find_element(By.ID, "trm-verdict").text)
        browser.find_element(By.ID, "trm-play").click()  # from the last step, Play starts again at the puzzle
        seen = watch_play(browser, 3)
        played = seen[seen.index(0) :]  # (a first look may still find the last step, before Play reset it)
        assert played == sorted(played) and played[-1] == 3, seen
    finally:
        app.close()
