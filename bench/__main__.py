"""`python -m bench` (what `make bench` runs)."""

from bench.main import main

main()
