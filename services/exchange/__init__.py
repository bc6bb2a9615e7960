"""Exchange: moves data between departments under the catalog's rules (Art. 13)."""
