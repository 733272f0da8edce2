"""Command-line entry points (`python -m cli.<name>`): thin argparse shells over the data layer."""
