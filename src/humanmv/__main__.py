"""`python -m humanmv ...` = `humanmv ...`; the form `accelerate launch -m humanmv generate|synth ...`
needs (several processes share out the photos or subjects: humanmv.shards)."""

from humanmv.cli import main

if __name__ == "__main__":
    main()
