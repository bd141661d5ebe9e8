# Generated from proto/ by `make gen` (python -m server.api.protos generate). Do not edit.
