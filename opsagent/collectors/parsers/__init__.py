"""Pure parsers: command or file output in, plain data out. No I/O, tested on fixture cases."""
