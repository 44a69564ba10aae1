"""``python -m newsbeam``: the same command as the ``newsbeam`` script."""

from newsbeam.pipeline.cli import main

raise SystemExit(main())
