"""The data factory: the code that made what the workbook ships under ``data/``.

None of it runs while a learner works through the course; the notebooks and the library read its
products through ``course_utils.shipped``. It is here so that every shipped file can be rebuilt
from seeds, bit for bit (``python -m course_utils.synth.assets``), and read:

- ``world``: the invented world (people, companies, products, places, tickets, contracts);
- ``corpus``: the documents about it that tiny-base was pre-trained on;
- ``tasks``: the instruction task types, their splits and the preference pairs;
- ``flaws``: flawed copies of clean pairs, for the data-quality experiments;
- ``copy_task``: the copy drill that opened tiny-base's pre-training;
- ``assets``: the build that writes all of it, trains tiny-base and tiny-instruct, and records
  the checksums in ``data/MANIFEST.json``.

Only the notebook on instruction data (``ch04/03``) imports it, to show how pairs are made;
``tests/test_layout.py`` fails if anything else outside this package does.
"""
