"""Catalog: the government information resource catalog (Art. 12)."""
