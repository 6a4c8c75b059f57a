"""Allow `python -m support`."""

from support.cli import main

main()
