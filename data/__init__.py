"""Shipped assets of the workbook, rebuilt by ``python -m course_utils.synth.assets``."""
