"""`python -m humanmv.train mvdiff --data DIR --out DIR ...` = `humanmv train mvdiff ...`;
the form `accelerate launch -m humanmv.train ...` needs."""

import sys

from humanmv.cli import main

if __name__ == "__main__":
    main(["train", *sys.argv[1:]])
