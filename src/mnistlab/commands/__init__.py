"""One module per `mnistlab` subcommand; `cli.py` assembles them."""
