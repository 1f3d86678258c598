"""The explorer in a real browser: JupyterLab headless on localhost, Debian's Chromium driven by Playwright (no browser
download), a notebook that shows the explorer is run, a move button is clicked, and the rendered frame must change.
A screenshot is written to outputs/browser/ (the one in the docs, nbs/images/explorer.png, comes from this test)."""
import json, os, shutil, socket, subprocess, sys, time, urllib.request
from pathlib import Path

import nbformat
import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (make test installs it)")

NOTEBOOK = """\
import torch
from midt.envs.factory import env_config, make_env
from midt.models.decision_transformer import DecisionTransformer
from midt.training.checkpoint import TrainedDT
from midt.utils.config import DTModelConfig
from midt.viz.explorer import Explorer

cfg = env_config("key_door_cue", obs_mode="symbolic", max_steps=30)
torch.manual_seed(0)
model = DecisionTransformer(DTModelConfig(embed_dim=32, num_layers=2, num_heads=2, dropout=0.0, max_timestep=30,
                            state_dim=make_env(cfg).observation_space.shape[0], action_dim=4), context_length=6).eval()
Explorer(TrainedDT(model, env_config=cfg))"""

TRAINED = """\
from midt.viz.explorer import Explorer
Explorer({checkpoint!r})"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0)); return s.getsockname()[1]


def _up(url, token) -> bool:
    try: urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2); return True
    except OSError: return False


@pytest.fixture
def lab(tmp_path):
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    ckpt = os.environ.get("MIDT_BROWSER_CHECKPOINT")                        # for the docs' screenshot: a trained DT
    nb.cells = [nbformat.v4.new_code_cell(TRAINED.format(checkpoint=ckpt) if ckpt else NOTEBOOK)]
    nbformat.write(nb, tmp_path/"explorer.ipynb")
    port, token = _free_port(), "midt-browser-test"
    proc = subprocess.Popen([sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
                             f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={tmp_path}",
                             "--ServerApp.open_browser=False", *(["--allow-root"] if os.geteuid() == 0 else []), "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
                            stdout=subprocess.DEVNULL, stderr=open(tmp_path/"lab.log", "w"), cwd=tmp_path,
                            env={**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path/"cfg")})
    url = f"http://127.0.0.1:{port}"
    for _ in range(120):
        if proc.poll() is not None: break
        try:
            urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=1); break
        except OSError: time.sleep(0.5)
    if proc.poll() is not None or not _up(url, token):
        proc.kill(); pytest.fail("JupyterLab did not start: " + (tmp_path/"lab.log").read_text()[-2000:])
    yield url, token
    proc.terminate(); proc.wait(timeout=20)


def test_the_explorer_renders_and_a_move_changes_the_frame(lab, repo):
    from playwright.sync_api import sync_playwright
    url, token = lab
    shots = repo/"outputs/browser"; shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{url}/lab/tree/explorer.ipynb?token={token}")
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
        page.get_by_text("Python 3 (ipykernel) | Idle").wait_for(timeout=90_000)   # the kernel is up
        page.click("text=Run >> nth=0")                                      # Run > Run All Cells
        page.click("text=Run All Cells")
        frame = page.locator(".jp-OutputArea-output .widget-image").first
        try: frame.wait_for(state="visible", timeout=120_000)
        except Exception:
            page.screenshot(path=str(shots/"explorer_failed.png"), full_page=True); raise
        page.wait_for_timeout(500)
        if page.get_by_text("Would you like to get notified").count(): page.get_by_role("button", name="No", exact=True).first.click()
        before = frame.screenshot()
        page.screenshot(path=str(shots/"explorer.png"), full_page=True)
        page.locator("button[title='down (s)']").click()                     # the agent moves down
        page.wait_for_function("() => [...document.querySelectorAll('.widget-html')].some(e => e.textContent.includes('step 1'))",
                               timeout=30_000)
        page.wait_for_timeout(300)
        after = frame.screenshot()
        page.screenshot(path=str(shots/"explorer_after_move.png"), full_page=True)
        browser.close()
    assert before != after, "the rendered frame did not change after a move"
    assert (shots/"explorer.png").stat().st_size > 10_000
