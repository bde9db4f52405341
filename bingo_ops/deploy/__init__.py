"""Deploying Buzzword Bingo: the Lambda bundle, the local stack in the background, and AWS.

Submodules are imported where needed (`bundle`, `local`, `aws`, `notebook`), so importing this
package costs nothing and never pulls in boto3.
"""
