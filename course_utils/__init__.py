"""Helper library of the LLM foundations workbook.

Each module holds one idea of the course: ``tokenizer``, ``models`` (loading), ``shipped`` (the
data the workbook ships), ``pretrain`` and ``sft`` (rows to batches), ``train`` (the loop),
``finetune`` (one call for an SFT run), ``evaluate``, ``generate`` (decoding), ``preference``
(DPO), ``plot`` and ``quiz``. ``synth`` is the data factory that made the shipped data.
"""
import sys

__version__ = "0.2.0"

if "google.colab" in sys.modules:  # lets Colab draw the quizzes' widgets
    from google.colab import output

    output.enable_custom_widget_manager()
