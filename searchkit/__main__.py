"""`python -m searchkit`: the same as the `searchkit` command."""

from .cli import main

main()
