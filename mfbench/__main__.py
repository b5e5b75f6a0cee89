import sys

from mfbench.cli import main

sys.exit(main())
