"""`python -m sealbox` is the `sealbox` command."""

from sealbox.cli.entry import main

main()
