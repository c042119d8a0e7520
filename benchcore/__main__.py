import atexit
import os
import sys

from benchcore.cli import main

code = main()
# Every file is closed and every result saved by now: run the exit hooks (embedded servers stop there), then skip
# the interpreter's teardown of pandas, scipy, DuckDB and the drivers (~1 s on a busy machine, e.g. after Ctrl-C).
sys.stdout.flush()
sys.stderr.flush()
atexit._run_exitfuncs()
os._exit(code)
