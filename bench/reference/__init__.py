"""The reference: the least code that serves the same URLs with the same SQL.

It sets the ceiling the API is measured against. Whatever the API spends beyond it
(validation, dependency injection, middleware, ORM layers) shows up as the ratio in
bench/RESULTS.md, on the same machine, database and data, in the same run.
"""
