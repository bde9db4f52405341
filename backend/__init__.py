"""Buzzword Bingo backend: the Lambda package (PyJWT + stdlib; boto3 only in AWS adapters)."""
