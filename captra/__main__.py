"""`python -m captra ...` is `captra ...`."""

from captra.common.cli import main

if __name__ == "__main__":
    main()
