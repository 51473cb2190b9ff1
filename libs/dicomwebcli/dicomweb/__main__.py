"""``python -m dicomweb``: the same command line as the ``dicomweb`` script."""

from dicomweb.cli import main

main()
