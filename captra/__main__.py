"""`python -m captra ...` is `captra ...`."""

from captra.common.cli.main import main

if __name__ == "__main__":
    main()
