"""One module per ``archiver`` sub-command; each has ``add_parser(subparsers)``."""
