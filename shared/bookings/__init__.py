"""Bookings: what was sold (campaign, flight, targets, goal), versioned like screens (docs/bookings.md)."""
