"""pipeline: the command line, the run, the graph.

Importing it first filters two known, meaningless Beam log lines (``pipeline.quiet``), before
any module here imports ``apache_beam``.
"""

from newsbeam.pipeline import quiet

quiet.install()
