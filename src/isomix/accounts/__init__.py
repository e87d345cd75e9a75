"""Accounts: users, passwords, tokens, subscriptions and daily usage. Below the API: the CLI
and the workers use it too. Nothing here knows about HTTP."""
