"""Stand-in for ``google.colab.files``: a download is a copy into the trace folder."""
import os
import shutil
from pathlib import Path


def download(filename: str) -> None:
    downloads = Path(os.environ["COLAB_STANDIN_TRACE"], "downloads")
    downloads.mkdir(exist_ok=True)
    shutil.copy(filename, downloads / Path(filename).name)
