"""The web console (issue 20): static pages served at /console/ through the gateway, same origin as the API."""
