"""Command-line subcommands, one module each.

Every module here exposes ``register(subparsers)``, which adds its subcommand and sets
``func`` on the parser defaults: ``func(args) -> int`` is the exit status. The modules stay
thin: they parse, call library code and print.
"""
