"""The local API Gateway: builds AWS-shaped events and runs the real handlers."""
