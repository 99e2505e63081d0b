from mnistlab.cli import entry

entry()
