"""rabat-kg graph library: ontology, data, validation, queries and engines (no Flask here)."""
