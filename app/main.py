"""spark-submit entry point (the SparkApplication's mainApplicationFile): `main.py run --input ...`."""

import sys

from fruits.cli import main

if __name__ == "__main__":
    sys.exit(main())
