"""One module per subcommand of `refusal-lab`, each with main(argv) -> exit status.

Commands read arguments, call library code and print; nothing in the package imports them.
"""
