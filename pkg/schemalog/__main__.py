"""`python -m schemalog` is the `schemalog` command line."""

import sys

from schemalog.cli import main

sys.exit(main())
