"""`python -m cli`: the same as the `opsqa` command."""

from .base import main

main()
