"""The platform's services; each runs alone with `python -m services.<name>`."""
