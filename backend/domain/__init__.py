"""Pure game rules: no I/O, no clock, no randomness unless passed in."""
