"""Who is calling: API keys (stored only as hashes), each mapped to one tenant."""
