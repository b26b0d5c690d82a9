"""Pieces every task shares: the config command line and the train runner."""
