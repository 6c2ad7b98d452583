"""The `wess` command line: argument parsing and printing; the work is done by the drivers."""
