"""`python -m sealbox` is the `sealbox` command."""

from sealbox.cli.main import main

main()
