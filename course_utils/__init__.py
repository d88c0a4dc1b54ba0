"""Helper library of the LLM foundations workbook.

Each module holds one idea of the course: ``world`` (the synthetic data), ``tokenizer``,
``models`` (loading), ``sft`` (rows to batches), ``train`` (the loop), ``evaluate``,
``generate`` (decoding), ``plot`` and ``quiz``.
"""

__version__ = "0.2.0"
