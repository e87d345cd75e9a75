import sys

from isomix.cli import main

sys.exit(main())
