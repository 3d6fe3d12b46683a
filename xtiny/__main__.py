import sys

from xtiny.cli import main

sys.exit(main())
