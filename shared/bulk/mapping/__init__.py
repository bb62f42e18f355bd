"""The mapping language: how a bulk file's records become canonical events (see docs/schemas.md, "Mapping language").

- `model`: `SchemaMapping`, the mapping as data, validated at registration (errors name the key);
- `compiled`: `CompiledMapping`, its lookups precomputed once (`compile_mapping(mapping, fmt, zone)`,
  kept on the mapping) and applied to each record;
- `timestamps`: timestamp formats, zones and the rule for daylight-saving edges;
- `screen_zones`: ``"timezone": "screen"``, the zone of a record's screen at an instant, from its
  registered versions (pure; `shared.bulk.rows` reads the registry);
- `records`: records inside an envelope (``pop``, ``requests[*].adPlay``).

Imports go one way: compiled -> model -> records, timestamps; compiled -> screen_zones -> timestamps.
The model is data and never needs the code that applies it.
"""
