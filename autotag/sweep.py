"""``python -m autotag.sweep report <sweep folder> [--wandb] [--no-paper]``: rebuild a sweep's
report (the library side is :mod:`autotag.experiments.report`)."""

from autotag.experiments.report import main

if __name__ == "__main__":
    main()
