import sys

from benchcore.cli import main

sys.exit(main())
