"""Drive a real JupyterLab from Playwright: start a server, open a notebook, run it, read outputs.

Shared by the browser tests (quiz widgets, live plots). The server runs on a free local port
with a random token, in a throw-away root folder, with its own workspaces, settings and
runtime folders so that it touches nothing in the user's home. ``--LabApp.expose_app_in_browser``
makes ``window.jupyterapp`` available, so cells are run through JupyterLab's own commands
instead of by simulated typing.

Selectors that read results should be scoped to ``.jp-OutputArea``: a text such as "Check"
also appears in the code of the cell's editor.
"""
from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
OUTPUT = ".jp-OutputArea"  # where a cell's results are shown, and nothing else


@dataclass
class Lab:
    """A running JupyterLab server."""

    url: str  # e.g. http://127.0.0.1:8899
    token: str
    root_dir: Path  # notebooks written here can be opened by their relative path
    process: subprocess.Popen
    log_path: Path  # the server's output, for diagnosing a failed start


def free_port() -> int:
    """A TCP port that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_lab(root_dir: Path, state_dir: Path, env: dict[str, str] | None = None, timeout_s: float = 120) -> Lab:
    """Start JupyterLab serving ``root_dir`` and wait until its API answers.

    ``state_dir`` receives the server log and its workspaces, settings and runtime files;
    ``env`` adds variables for the server and the kernels it starts.
    """
    port, token = free_port(), secrets.token_hex(16)
    settings = state_dir / "settings"
    # Do not ask about fetching Jupyter news: the toast would sit over the notebook.
    news = settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    news.parent.mkdir(parents=True, exist_ok=True)
    news.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ServerApp.ip=127.0.0.1",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root_dir}",
        "--LabApp.expose_app_in_browser=True", f"--LabApp.workspaces_dir={state_dir / 'workspaces'}",
        f"--LabApp.user_settings_dir={settings}",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # containers and CI often run as root
        command.append("--allow-root")
    full_env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(state_dir / "runtime"), **(env or {})}
    log_path = state_dir / "jupyterlab.log"
    log = open(log_path, "w")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=full_env, cwd=root_dir)
    log.close()  # the child keeps its own handle
    lab = Lab(f"http://127.0.0.1:{port}", token, root_dir, process, log_path)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{lab.url}/api/status?token={token}", timeout=2) as response:
                if response.status == 200:
                    return lab
        except OSError:
            time.sleep(0.5)
    stop_lab(lab)
    raise TimeoutError(f"JupyterLab did not answer within {timeout_s} s:\n{log_path.read_text()[-3000:]}")


def stop_lab(lab: Lab) -> None:
    """Stop the server (and with it the kernels it started)."""
    lab.process.terminate()
    try:
        lab.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        lab.process.kill()
        lab.process.wait()


def write_notebook(path: Path, *cells: str) -> Path:
    """Write a notebook of code cells (without outputs) and return its path."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def open_notebook(page, lab: Lab, path: str, workspace: str | None = None, timeout_ms: int = 120_000) -> None:
    """Open ``path`` (relative to the lab's root) in a fresh workspace and wait for an idle kernel."""
    name = workspace or f"test-{secrets.token_hex(4)}"
    page.goto(f"{lab.url}/lab/workspaces/{name}/tree/{path}?reset&token={lab.token}")
    page.locator(".jp-NotebookPanel .jp-Notebook").first.wait_for(timeout=timeout_ms)
    wait_idle(page, timeout_ms)


def wait_idle(page, timeout_ms: int = 120_000) -> None:
    """Wait until the status bar says the notebook's kernel is Idle."""
    page.locator("#jp-main-statusbar").get_by_text("| Idle").wait_for(timeout=timeout_ms)


def run_all_cells(page, timeout_ms: int = 300_000) -> None:
    """Run every cell of the open notebook and wait until each one has finished."""
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    page.wait_for_function(
        """() => {
            const prompts = [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputPrompt')];
            return prompts.length > 0 && prompts.every(p => /\\[\\d+\\]/.test(p.textContent));
        }""",
        timeout=timeout_ms,
    )
    wait_idle(page, timeout_ms)


def outputs(page):
    """A locator over the output areas of the open notebook (never its code editors)."""
    return page.locator(OUTPUT)
