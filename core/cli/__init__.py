"""The command line (`python -m core ...`): one module per command group over the domain packages."""
