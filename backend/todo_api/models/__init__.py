"""The models: one SQLModel class hierarchy per resource, each both its table and its API
schemas (`todos`, `lists`), built from the shared field rules in `fields`."""
