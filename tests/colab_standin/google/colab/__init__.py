"""A stand-in for Colab's ``google.colab`` package, for rehearsing the notebooks' Colab path off Colab.

Only what the workbook calls is here: ``output.enable_custom_widget_manager()`` and
``files.download(path)``. Both leave a trace in ``$COLAB_STANDIN_TRACE`` (a folder) so a test can
see that they were called, and downloads are copied there.
"""
