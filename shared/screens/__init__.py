"""The screen registry: a tenant's screens, each with its history of versions (docs/screens.md)."""
