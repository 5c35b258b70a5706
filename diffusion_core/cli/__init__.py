"""The command line, one module a family of commands; diffusion_core/__main__.py assembles them.

args.py holds what every command's flags share (the one-line parser, value types, the engine flag);
each other module adds its subcommands with ``add_parsers(sub)`` and binds each to its handler.
"""
