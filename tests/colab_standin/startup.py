# IPython startup file of the rehearsal kernel: Colab's kernel has google.colab imported at start.
import google.colab  # noqa: F401
