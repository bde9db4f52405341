"""Adapters: the only modules that talk to sqlite3, boto3 or a socket."""
