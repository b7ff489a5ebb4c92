"""The work behind each ``synthtumor`` subcommand, callable from Python too."""
