"""`python -m sealbox` is the `sealbox` command (exiting through SystemExit: see `main`)."""

from sealbox.cli.entry import main

main(teardown=True)
