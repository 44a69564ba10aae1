"""pipeline: the command line, the run, the graph.

Importing it first filters two known, meaningless Beam log lines (``pipeline.quiet``), before
any module here imports ``apache_beam``.
"""

from pipeline import quiet

quiet.install()
