"""`python -m graphcal`: the same entry point as the `graphcal` console script."""

from graphcal.cli import main

main()
