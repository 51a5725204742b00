"""``python -m jobs.algorithms <name>``: train a built-in algorithm inside a job (see ``runtime``)."""

import sys

from jobs.algorithms.runtime import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
