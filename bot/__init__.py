"""Shenyang resident help-desk bot: knowledge, matching, conversation and channels."""

__version__ = "0.1.0"
