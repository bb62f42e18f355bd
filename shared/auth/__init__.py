"""Who is calling: API keys (stored only as hashes) and OAuth2 clients (secrets only as salted hashes,
tokens signed as a service account and verified by the gateway), each mapped to one tenant."""
