"""Stand-in for ``google.colab.output``: records that the custom widget manager was turned on."""
import os
from pathlib import Path


def enable_custom_widget_manager() -> None:
    Path(os.environ["COLAB_STANDIN_TRACE"], "custom_widget_manager").touch()
