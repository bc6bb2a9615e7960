"""Keys: key management and security with the national SM2/SM3/SM4 cryptography (Art. 38, 39)."""
